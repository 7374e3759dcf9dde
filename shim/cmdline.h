/* cmdline.h: this process's command line, and the one rule for a word of it that names pytest
 * or Python.
 *
 * A word names pytest when its last path component starts with one of SHIM_CMDLINE_PYTEST_NAMES:
 * the scripts pip installs (pytest, py.test, pytest-3) and wrappers named after them; a module
 * given to `python -m` is pytest when it is one of them exactly.  A word names Python when its
 * last component starts with "python" (python3, python3.11, python3.13t).  Three questions rest
 * on these rules:
 *   - could this process be Python or pytest at all?  argv[0] only, which glibc keeps for free
 *     (shim_named_like_python: rules out shells, compilers and git without a system call);
 *   - is this a pytest process?  any word names pytest (shim_cmdline_is_pytest: role.h's witness,
 *     so that `coverage run -m pytest` is a controller too);
 *   - is this pytest itself?  reach.c's stricter reading of the same words. */
#ifndef SHIM_CMDLINE_H
#define SHIM_CMDLINE_H
#include <stddef.h>

#define SHIM_CMDLINE_PYTEST_NAMES {"pytest", "py.test"}

/* /proc/self/cmdline into buf (NUL-separated argv, NUL-terminated); its length, 0 if none. */
size_t shim_cmdline(char *buf, size_t bufsz);
/* The last path component of a word. */
const char *shim_cmdline_base(const char *word);
/* Does the word name pytest (a script or a wrapper named after it), or Python? */
int shim_cmdline_names_pytest(const char *word);
int shim_cmdline_names_python(const char *word);
/* Is the module of `python -m MODULE` pytest? */
int shim_cmdline_pytest_module(const char *module);
/* Does any word of this process's command line name pytest?  (reads /proc/self/cmdline) */
int shim_cmdline_is_pytest(void);
/* Does argv[0] name Python or pytest? */
int shim_named_like_python(void);
#endif
