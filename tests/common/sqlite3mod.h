/* sqlite3mod.h: make a C test program a sqlite3 module in the shim's eyes (shim/pymod.h).
 *
 * The shim touches the SQLite calls of Python's sqlite3 module and nothing else: an object that
 * defines PyInit__sqlite3.  A program that includes this header (built with -rdynamic, so the
 * symbol is in its dynamic symbol table) is one: its own calls to SQLite, through its import
 * slots, are watched and managed exactly as `_sqlite3`'s are in Python.  Without it, a C program
 * is a bystander like any other SQLite user in a process, and the shim never sees its calls. */
#ifndef SQLITE3MOD_H
#define SQLITE3MOD_H
__attribute__((visibility("default"), used)) void *PyInit__sqlite3(void) { return 0; }
#endif
