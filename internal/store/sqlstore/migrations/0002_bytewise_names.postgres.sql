-- Compare and sort names bytewise ("C"), as SQLite does, whatever locale
-- the database was created with: list order and the keyset cursor must not
-- depend on a locale's rules (which ignore punctuation and fold case), and
-- must stay the same across a migration between databases.
ALTER TABLE associations
    ALTER COLUMN cluster TYPE TEXT COLLATE "C",
    ALTER COLUMN namespace TYPE TEXT COLLATE "C",
    ALTER COLUMN service_account TYPE TEXT COLLATE "C";
