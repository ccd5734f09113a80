"""Checks shared by the end-to-end scripts: each failed check exits with a
message; each error expectation asserts the AWS error code, HTTP status,
message and request id botocore surfaces."""
import sys

import botocore.exceptions


class Checker:
    def __init__(self, secrets=()):
        self.count = 0
        # Strings that must never appear in an error message.
        self.secrets = [s[:40] for s in secrets if s]

    def check(self, cond, what):
        if not cond:
            sys.exit("FAILED: " + what)
        self.count += 1

    def expect_error(self, code, status, fn, **kwargs):
        try:
            fn(**kwargs)
        except botocore.exceptions.ClientError as e:
            err, meta = e.response["Error"], e.response["ResponseMetadata"]
            name = getattr(fn, "__name__", "call")
            self.check(err["Code"] == code, f"{name}: error {err['Code']} ({err.get('Message')}), want {code}")
            self.check(meta["HTTPStatusCode"] == status, f"{name}: status {meta['HTTPStatusCode']}, want {status}")
            self.check(err["Message"], f"{name}: empty message")
            self.check(meta.get("RequestId"), f"{name}: no request id")
            for s in self.secrets:
                self.check(s not in err["Message"], f"{name}: the error message quotes a secret")
            return e
        sys.exit(f"FAILED: {getattr(fn, '__name__', 'call')} succeeded, want {code}")
