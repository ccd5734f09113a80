-- Client request tokens expire (podidentity.IdempotencyWindow): every
-- write deletes the expired ones, which this index turns into a seek.
CREATE INDEX idempotency_tokens_created ON idempotency_tokens (created_at);
