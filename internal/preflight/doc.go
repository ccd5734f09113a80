// Package preflight checks a server configuration completely without
// serving (`podidentity server --check`): the file's syntax and keys, the
// files it names (token keys, CA bundles, secrets, sealing keys), the
// environment variables it names, and whether its storage opens. It
// reports every problem at once, so that a deployment is fixed in one
// pass instead of one failed start-up at a time, and changes nothing: no
// database is created or migrated.
package preflight
