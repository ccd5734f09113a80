// Package archtest holds tests of the module's shape rather than of its
// behaviour: which packages must stay leaves, importing nothing of ours,
// and that every package says in a doc comment why it exists. It has no
// code of its own; the tests walk the source tree.
package archtest
