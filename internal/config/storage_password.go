package config

import (
	"fmt"
	"os"
	"strings"
)

// Password reads the database password from the file or environment
// variable the options name: "" when they name neither. The server, the
// storage commands and the check read it this one way.
func (o StorageOptions) Password() (string, error) {
	switch {
	case o.PasswordFile != "":
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("storageOptions.passwordFile: %w", err)
		}
		// Secret files usually end in a newline that is not part of it.
		password := strings.TrimRight(string(b), "\r\n")
		if password == "" {
			return "", fmt.Errorf("storageOptions.passwordFile: %s is empty", o.PasswordFile)
		}
		return password, nil
	case o.PasswordEnv != "":
		password := os.Getenv(o.PasswordEnv)
		if password == "" {
			return "", fmt.Errorf("storageOptions.passwordEnv: the environment variable %s is not set", o.PasswordEnv)
		}
		return password, nil
	}
	return "", nil
}
