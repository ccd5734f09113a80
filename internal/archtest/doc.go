// Package archtest holds tests of the module's shape rather than of its
// behaviour: which packages must stay leaves, importing nothing of ours,
// that every package says in a doc comment why it exists, and that the
// README's layout names them all. It has no code of its own; the tests
// walk the source tree.
package archtest
