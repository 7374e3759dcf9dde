/* cmd_doctor.c: `testmon-shim doctor [--python PATH] [--no-probe] [DIR]`: can the shim work here?
 * One line per check ("ok", "note", "warn", "FAIL"), then a verdict line.
 * Exit: 0 works, 1 cannot work, 2 usage error, 3 works but with warnings. */
#include "elf.h"
#include "../shim/elfsym.h"
#include "../shim/envvars.h"
#include "../shim/safefile.h"
#include "libpath.h"
#include "runfiles.h"
#include "spawn.h"
#include "tool.h"
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { DOCTOR_WORKS = 0, DOCTOR_CANNOT = 1, DOCTOR_WARNINGS = 3 };
/* Deadlines of the children; TESTMON_SHIM_DOCTOR_TIMEOUT (seconds) sets both. */
static long QUERY_TIMEOUT_MS = 15000, PROBE_TIMEOUT_MS = 20000;
#define USE_INSTEAD "use a Python whose _sqlite3 links libsqlite3.so.0 (Debian's python3, pyenv, " \
                    "deadsnakes)"

static int warnings, failures;
static char first_failure[1024];

static void check(const char *tag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(const char *tag, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (strcmp(tag, "warn") == 0)
        warnings++;
    if (strcmp(tag, "FAIL") == 0 && failures++ == 0)
        snprintf(first_failure, sizeof first_failure, "%s", line);
    printf("%-5s %s\n", tag, line);
    fflush(stdout);
}

/* The library: present, ELF, exporting testmon_shim_version. */
static int check_library(char *lib, size_t libsz)
{
    char why[PATH_MAX * 3];
    if (tool_find_library(lib, libsz, why, sizeof why) != 0) {
        check("FAIL", "library: %s", why);
        return -1;
    }
    struct tool_elf e;
    if (tool_elf_open(lib, &e, why, sizeof why) != 0) {
        check("FAIL", "library: %s: %s", lib, why);
        return -1;
    }
    enum tool_elf_sym s = tool_elf_symbol(&e, "testmon_shim_version");
    tool_elf_close(&e);
    if (s != TOOL_ELF_DEFINED) {
        check("FAIL", "library: %s does not export testmon_shim_version: not the shim, or a "
              "broken build", lib);
        return -1;
    }
    check("ok", "library: %s (exports testmon_shim_version)", lib);
    return 0;
}

/* --python PATH, or python3 on PATH, as an absolute path in out. */
static int find_python(const char *want, char *out, size_t outsz, char *why, size_t whysz)
{
    if (strchr(want, '/')) {
        if (access(want, X_OK) != 0) {
            snprintf(why, whysz, "%s: %s", want, strerror(errno));
            return -1;
        }
        /* Absolute, but not through realpath: a venv's python is a symlink whose target is
         * another installation.  The live probe runs in a temporary directory. */
        char cwd[PATH_MAX];
        if (want[0] == '/' || !getcwd(cwd, sizeof cwd))
            snprintf(out, outsz, "%s", want);
        else if ((size_t)snprintf(out, outsz, "%s/%s", cwd, want) >= outsz) {
            snprintf(why, whysz, "%s: path too long", want);
            return -1;
        }
        return 0;
    }
    const char *path = getenv("PATH");
    char *copy = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char cand[PATH_MAX];
        struct stat st;
        if ((size_t)snprintf(cand, sizeof cand, "%s/%s", *d ? d : ".", want) < sizeof cand &&
            stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
            snprintf(out, outsz, "%s", cand);
            free(copy);
            return 0;
        }
    }
    free(copy);
    snprintf(why, whysz, "no %s on PATH; give one with --python PATH", want);
    return -1;
}

static const char query_script[] =
    "import json, sys\n"
    "d = {'executable': sys.executable, 'version': '%d.%d.%d' % tuple(sys.version_info[:3]),\n"
    "     'builtin': '_sqlite3' in sys.builtin_module_names, 'maps': [], 'packages': {}}\n"
    "try:\n"
    "    import _sqlite3, sqlite3\n"
    "    d['sqlite3_file'] = getattr(_sqlite3, '__file__', None)\n"
    "    d['sqlite_version'] = sqlite3.sqlite_version\n"
    "except Exception as e:\n"
    "    d['sqlite3_error'] = '%s: %s' % (type(e).__name__, e)\n"
    "try:\n"
    "    for line in open('/proc/self/maps'):\n"
    "        p = line.split(None, 5)\n"
    "        if len(p) == 6 and ('libsqlite3' in p[5] or 'libpython' in p[5]):\n"
    "            d['maps'].append(p[5].strip())\n"
    "    d['maps'] = sorted(set(d['maps']))\n"
    "except OSError:\n"
    "    pass\n"
    "try:\n"
    "    from importlib import metadata as md\n"
    "except ImportError:\n"
    "    md = None\n"
    "try:\n"  /* the wheel's pytest plugin: python/testmon_shim/plugin.py */
    "    from testmon_shim.plugin import doctor_report\n"
    "    d['plugin'] = list(doctor_report())\n"
    "except ModuleNotFoundError:\n"
    "    pass\n"
    "except Exception as e:\n"
    "    d['plugin'] = ['warn', 'cannot tell (%s: %s)' % (type(e).__name__, e)]\n"
    "for n in ('pytest', 'pytest-xdist', 'pytest-testmon'):\n"
    "    try:\n"
    "        d['packages'][n] = md.version(n)\n"
    "    except Exception:\n"
    "        d['packages'][n] = None\n"
    "sys.stdout.write(json.dumps(d) + '\\n')\n";

static const char *first_line(const char *text, char *buf, size_t bufsz)
{
    const char *last = text; /* a traceback's last line says the most */
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (*p != '\n' && *p)
            last = p;
    size_t n = strcspn(last, "\n");
    snprintf(buf, bufsz, "%.*s", (int)(n < bufsz ? n : bufsz - 1), last);
    return buf;
}

static const char *child_failure(const struct tool_child *c, long timeout_ms, char *buf,
                                 size_t bufsz)
{
    char line[300];
    if (c->exec_errno)
        snprintf(buf, bufsz, "cannot execute: %s", strerror(c->exec_errno));
    else if (c->timed_out)
        snprintf(buf, bufsz, "did not finish within %.1f s (killed)", timeout_ms / 1000.0);
    else if (c->signal)
        snprintf(buf, bufsz, "killed by signal %d", c->signal);
    else
        snprintf(buf, bufsz, "exited with status %d%s%s", c->code, c->err && *c->err ? ": " : "",
                 c->err && *c->err ? first_line(c->err, line, sizeof line) : "");
    return buf;
}

/* Ask the interpreter about itself; the parsed answer, or NULL after a FAIL line. */
static cJSON *query_python(const char *python)
{
    char *argv[] = {(char *)python, "-c", (char *)query_script, NULL};
    const char *env[] = {"LD_PRELOAD", NULL, "PYTHONSAFEPATH", "1", NULL};
    struct tool_child c;
    if (tool_spawn(argv, NULL, env, QUERY_TIMEOUT_MS, &c) != 0) {
        check("FAIL", "interpreter: %s: cannot start: %s", python, strerror(errno));
        return NULL;
    }
    char why[512];
    cJSON *j = NULL;
    if (c.exec_errno || c.timed_out || c.signal || c.code != 0)
        check("FAIL", "interpreter: %s %s", python, child_failure(&c, QUERY_TIMEOUT_MS, why,
                                                                   sizeof why));
    else if (!(j = cJSON_Parse(c.out ? c.out : "")) || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = NULL;
        check("FAIL", "interpreter: %s did not answer like a Python 3 interpreter", python);
    }
    tool_child_free(&c);
    return j;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* SQLite linked into the interpreter and hidden from the dynamic linker (python-build-standalone:
 * uv, rye, mise): the library hooks it through the symbol table where it can (shim/static.h). */
static void check_linked_in(const char *how, const char *object)
{
    static const char *const api[] = {"sqlite3_open_v2", "sqlite3_prepare_v2", "sqlite3_step",
                                      "sqlite3_close_v2"};
    struct shim_elfsym syms[4];
    int n = shim_elfsym_lookup(object, api, 4, syms);
#if defined(__x86_64__)
    if (n == 4)
        check("ok", "sqlite: %s %s has SQLite linked in and hidden (python-build-standalone: "
              "uv, rye, mise); the shim hooks its entry points, found in the symbol table",
              how, object);
    else
#endif
        check("FAIL", "sqlite: %s %s has SQLite linked in and hidden (python-build-standalone: "
              "uv, rye, mise), and %s; %s", how, object,
              n == SHIM_ELFSYM_STRIPPED ? "no symbol table to find it in (stripped with "
                                          "--strip-all)"
              : n < 0 ? "its symbol table cannot be read"
#if defined(__x86_64__)
                      : "its symbol table lacks SQLite's entry points",
#else
                      : "the shim hooks linked-in SQLite on x86-64 only",
#endif
              USE_INSTEAD);
}

/* Where _sqlite3's code lives, and does it call SQLite through the dynamic linker? */
static void check_sqlite(const cJSON *info)
{
    const char *file = jstr(info, "sqlite3_file"), *err = jstr(info, "sqlite3_error");
    const char *ver = jstr(info, "sqlite_version");
    char object[PATH_MAX];
    if (err) {
        check("FAIL", "sqlite: the interpreter cannot import sqlite3 (%s); testmon needs it", err);
        return;
    }
    if (file) {
        snprintf(object, sizeof object, "%s", file);
    } else { /* built in: the code is in libpython or the executable */
        const cJSON *m;
        object[0] = 0;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(info, "maps"))
            if (cJSON_IsString(m) && strstr(m->valuestring, "libpython"))
                snprintf(object, sizeof object, "%s", m->valuestring);
        if (!object[0] && jstr(info, "executable"))
            snprintf(object, sizeof object, "%s", jstr(info, "executable"));
        if (!object[0]) {
            check("warn", "sqlite: _sqlite3 is built in and its object is unknown; the live "
                  "probe decides");
            return;
        }
    }
    const char *how = file ? "_sqlite3" : "_sqlite3 (built in)";
    struct tool_elf e;
    char why[256];
    if (tool_elf_open(object, &e, why, sizeof why) != 0) {
        check("warn", "sqlite: cannot inspect %s %s: %s; the live probe decides", how, object,
              why);
        return;
    }
    static const char *const api[] = {"sqlite3_open_v2", "sqlite3_prepare_v2", "sqlite3_step",
                                      "sqlite3_finalize"};
    const char *defined = NULL;
    for (size_t i = 0; i < sizeof api / sizeof *api && !defined; i++)
        if (tool_elf_symbol(&e, api[i]) == TOOL_ELF_DEFINED)
            defined = api[i];
    enum tool_elf_sym open_v2 = tool_elf_symbol(&e, "sqlite3_open_v2");
    const char *needed = NULL, *n;
    for (size_t i = 0; (n = tool_elf_needed(&e, i)); i++)
        if (strncmp(n, "libsqlite3", 10) == 0)
            needed = n;
    int slots = tool_elf_imports(&e, "sqlite3_open_v2");
    if (defined && slots)
        check("ok", "sqlite: %s %s carries its own SQLite (%s) and calls it through its import "
              "slots, which the shim redirects", how, object, ver ? ver : "?");
    else if (defined)
        check("FAIL", "sqlite: %s %s defines %s itself (SQLite bundled in the module) and calls "
              "it directly, without an import slot the shim could redirect; %s", how, object,
              defined, USE_INSTEAD);
    else if (open_v2 == TOOL_ELF_ABSENT)
        check_linked_in(how, object);
    else if (needed)
        check("ok", "sqlite: %s %s calls %s through the dynamic linker (SQLite %s)", how, object,
              needed, ver ? ver : "?");

    else
        check("warn", "sqlite: %s %s calls sqlite3_open_v2 through the dynamic linker but names "
              "no libsqlite3 (SQLite %s); the live probe decides", how, object, ver ? ver : "?");
    tool_elf_close(&e);
}

/* major.minor of a version string; -1 if unparsable. */
static int parse_version(const char *v, int *major, int *minor)
{
    return v && sscanf(v, "%d.%d", major, minor) == 2 ? 0 : -1;
}

static void check_packages(const cJSON *info)
{
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(info, "packages");
    const char *pytest = jstr(pk, "pytest"), *xdist = jstr(pk, "pytest-xdist");
    const char *testmon = jstr(pk, "pytest-testmon");
    if (pytest)
        check("ok", "pytest %s", pytest);
    else
        check("warn", "pytest: not installed in this interpreter");
    if (xdist)
        check("ok", "pytest-xdist %s", xdist);
    else
        check("warn", "pytest-xdist: not installed in this interpreter (without -n there is "
              "nothing to coordinate)");
    int ma, mi;
    if (!testmon)
        check("warn", "pytest-testmon: not installed in this interpreter");
    else if (parse_version(testmon, &ma, &mi) != 0)
        check("warn", "pytest-testmon %s: unrecognised version", testmon);
    else if (ma < 1 || (ma == 1 && mi < 4))
        check("note", "pytest-testmon %s: not managed: %s", testmon,
              ma < 1 ? "releases before 1.0 are not supported"
                     : "1.0-1.3 deactivate in the controller and let workers own the datafile; "
                       "the shim steps aside");
    else if (ma < 2 || (ma == 2 && mi < 2))
        check("ok", "pytest-testmon %s: needs the shim under pytest-xdist", testmon);
    else
        check("note", "pytest-testmon %s: needs the shim only with --testmon-nocollect "
              "(2.2 coordinates its workers itself)", testmon);
}

/* The pytest plugin of `pip install testmon-shim`: installed in that interpreter, and active? */
static void check_plugin(const cJSON *info)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(info, "plugin");
    const cJSON *tag = cJSON_GetArrayItem(p, 0), *line = cJSON_GetArrayItem(p, 1);
    if (!cJSON_IsString(tag) || !cJSON_IsString(line))
        check("note", "pytest plugin: not installed in this interpreter (pip install "
              "testmon-shim brings it; without it, preload the library or use `run`)");
    else
        check(strcmp(tag->valuestring, "ok") == 0 || strcmp(tag->valuestring, "FAIL") == 0
                  ? tag->valuestring : "warn",
              "pytest plugin: %s", line->valuestring);
}

/* DIR's coordination directory (no DIR: $TESTMON_SHIM_DIR or ./.testmon-shim): absent with a
 * writable parent, or ours and private. */
static void check_directory(const char *dir)
{
    char coord[PATH_MAX];
    if (tool_coord_dir(dir, coord, sizeof coord) != 0) {
        check("FAIL", "coordination directory: name too long; set TESTMON_SHIM_DIR");
        return;
    }
    struct stat st;
    char parent[PATH_MAX];
    switch (shim_dir_state(coord, &st, parent, sizeof parent)) {
    case SHIM_DIR_OK:
        check("ok", "coordination directory: %s", coord);
        break;
    case SHIM_DIR_CREATABLE:
        check("ok", "coordination directory: %s (created by the first run)", coord);
        break;
    case SHIM_DIR_UNCREATABLE:
        check("FAIL", "coordination directory: cannot create %s: %s is not writable; set "
              "TESTMON_SHIM_DIR to a writable directory", coord, parent);
        break;
    case SHIM_DIR_UNINSPECTABLE:
        check("FAIL", "coordination directory: cannot inspect %s; set TESTMON_SHIM_DIR to a "
              "directory of yours", coord);
        break;
    case SHIM_DIR_NOT_DIR:
        check("FAIL", "coordination directory: %s is not a directory (a symlink?); remove it",
              coord);
        break;
    case SHIM_DIR_FOREIGN:
        check("FAIL", "coordination directory: %s belongs to uid %ld; remove it or set "
              "TESTMON_SHIM_DIR", coord, (long)st.st_uid);
        break;
    case SHIM_DIR_OPEN:
        check("FAIL", "coordination directory: %s is writable by others; run `chmod 700 %s`",
              coord, coord);
        break;
    }
}

/* The environment's settings, judged by the library's own grammar (shim/envvars.h): the kill
 * switch and values it would ignore, each said as a warning here, before a run. */
static void check_settings(void)
{
    const char *off = getenv("TESTMON_SHIM"), *t = getenv("TESTMON_SHIM_TIMEOUT");
    const char *log = getenv("TESTMON_SHIM_LOG"), *file;
    long ms;
    int problems = 0;
    if (shim_envvars_off(off)) {
        check("warn", "settings: TESTMON_SHIM=%s switches the shim off: runs from this "
              "environment are not managed, and the shim says nothing; unset it", off);
        problems++;
    }
    if (shim_envvars_timeout_ms(t, &ms) != 0) {
        check("warn", "settings: TESTMON_SHIM_TIMEOUT=%s is not a number of seconds in (0, %d]; "
              "the shim would use %ld", t, SHIM_ENVVARS_TIMEOUT_MAX_S, ms / 1000);
        problems++;
    }
    if (shim_envvars_log(log, &file) < 0) {
        check("warn", "settings: TESTMON_SHIM_LOG=%s is not LEVEL[:FILE] with LEVEL "
              "error|warn|info|debug; the shim would log errors only", log);
        problems++;
    }
    if (!problems)
        check("ok", "settings: TESTMON_SHIM, TESTMON_SHIM_TIMEOUT and TESTMON_SHIM_LOG are usable");
}

/* The probe: a process named like pytest opens a datafile (does the library reach its sqlite3 module?), then
 * starts a controller the way pytest.main() launchers run (python -c, with stand-ins of a pytest
 * session's modules, in launcher/), whose worker gw0 must find its run. */
static const char probe_script[] =
    "import ctypes, json, os, sqlite3, subprocess, sys\n"
    "con = sqlite3.connect('.testmondata')\n"
    "con.execute('CREATE TABLE probe (x)')\n"
    "con.commit()\n"
    "con.execute('SELECT count(*) FROM probe').fetchall()\n"
    "con.close()\n"
    "v = None\n"
    "try:\n"
    "    f = ctypes.CDLL(None).testmon_shim_version\n"
    "    f.restype = ctypes.c_char_p\n"
    "    v = f().decode()\n"
    "except Exception:\n"
    "    pass\n"
    "LAUNCHER = '\\n'.join([\n"
    "    'import os, sqlite3, subprocess, sys, types',\n"
    "    'for n in (\"_pytest\", \"_pytest.main\", \"testmon\", \"testmon.pytest_testmon\"):',\n"
    "    '    sys.modules.setdefault(n, types.ModuleType(n))',\n"
    "    'con = sqlite3.connect(\".testmondata\")',\n"
    "    'con.execute(\"CREATE TABLE probe (x)\")',\n"
    "    'con.commit()',\n"
    "    'con.execute(\"SELECT count(*) FROM probe\").fetchall()',\n"
    "    'w = \"import sqlite3; sqlite3.connect(\\'file:.testmondata?mode=ro\\', uri=True)\"',\n"
    "    'sys.exit(subprocess.call([sys.executable, \"-c\", w],',\n"
    "    '                         env=dict(os.environ, PYTEST_XDIST_WORKER=\"gw0\")))'])\n"
    "os.mkdir('launcher')\n"
    "rc = subprocess.call([sys.executable, '-c', LAUNCHER], cwd='launcher')\n"
    "print(json.dumps({'shim_version': v, 'launcher_rc': rc}))\n";

/* The pytest.main() part of the probe: did a run appear in dir/launcher, and did its worker
 * report that it joined it? */
static void check_launcher(const char *dir, const cJSON *answer)
{
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(answer, "launcher_rc");
    if (!cJSON_IsNumber(rc))
        return; /* an answer without that part: nothing to say */
    char coord[PATH_MAX + 32], why[512];
    snprintf(coord, sizeof coord, "%s/launcher/.testmon-shim", dir);
    size_t n = 0;
    struct tool_file *files = tool_list_dir(coord, &n);
    int runs = 0, joined = 0;
    for (size_t i = 0; files && i < n; i++) {
        int missing;
        cJSON *w = files[i].kind == TF_WORKER
                       ? tool_read_json(coord, files[i].name, &missing, why, sizeof why) : NULL;
        const char *outcome = w ? jstr(w, "outcome") : NULL;
        joined |= outcome && strcmp(outcome, "ready") == 0;
        runs += files[i].kind == TF_RUN;
        cJSON_Delete(w);
    }
    free(files);
    if (!runs)
        check("warn", "live probe: a controller started through pytest.main() (IDE runners, "
              "run_tests.py, python -c) was not recognised, so such runs would not be managed; "
              "start pytest as `pytest` or `python -m pytest`");
    else if (!joined)
        check("FAIL", "live probe: a worker did not find its controller's run (exit status %d): "
              "xdist runs would not be managed", (int)rc->valuedouble);
    else
        check("ok", "live probe: a controller started through pytest.main() is recognised, and "
              "its worker joined its run");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* A child "pytest" process under the preload creates a table in a fresh .testmondata; the shim,
 * if it sees the calls, publishes its run in .testmon-shim and marks it finished at exit. */
static void live_probe(const char *python, const char *lib)
{
    const char *tmpdir = getenv("TMPDIR");
    char dir[PATH_MAX], script[PATH_MAX + 32], coord[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/testmon-shim-doctor.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        check("warn", "live probe: cannot create a temporary directory %s: %s", dir,
              strerror(errno));
        return;
    }
    snprintf(script, sizeof script, "%s/pytest_probe.py", dir);
    snprintf(coord, sizeof coord, "%s/.testmon-shim", dir);
    FILE *f = fopen(script, "w");
    if (!f || fputs(probe_script, f) < 0 || fclose(f) != 0) {
        check("warn", "live probe: cannot write %s", script);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        return;
    }
    int dropped;
    char *preload = tool_compose_preload(lib, getenv("LD_PRELOAD"), &dropped);
    char *argv[] = {(char *)python, script, NULL};
    const char *env[] = {"LD_PRELOAD", preload, "TESTMON_SHIM", NULL, "TESTMON_SHIM_DIR", NULL,
                         "TESTMON_DATAFILE", NULL, "PYTEST_XDIST_WORKER", NULL,
                         "PYTEST_CURRENT_TEST", NULL,
                         "TESTMON_SHIM_LOG", "warn", NULL};
    struct tool_child c;
    char why[512];
    if (!preload || tool_spawn(argv, dir, env, PROBE_TIMEOUT_MS, &c) != 0) {
        check("FAIL", "live probe: cannot start %s", python);
        free(preload);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        return;
    }
    free(preload);
    if (c.exec_errno || c.timed_out || c.signal || c.code != 0) {
        check("FAIL", "live probe: %s under the preload %s", python,
              child_failure(&c, PROBE_TIMEOUT_MS, why, sizeof why));
    } else {
        size_t n = 0;
        struct tool_file *files = tool_list_dir(coord, &n);
        cJSON *run = NULL;
        for (size_t i = 0; files && i < n && !run; i++) {
            int missing;
            if (files[i].kind == TF_RUN)
                run = tool_read_json(coord, files[i].name, &missing, why, sizeof why);
        }
        const char *state = run ? jstr(run, "state") : NULL;
        cJSON *answer = cJSON_Parse(c.out ? c.out : "");
        const char *ver = answer ? jstr(answer, "shim_version") : NULL;
        if (!files)
            check("FAIL", "live probe: the shim did not see the probe's SQLite calls (no %s): "
                  "the library does not reach this interpreter's sqlite3 module; %s", coord, USE_INSTEAD);
        else if (!state || strcmp(state, "finished") != 0)
            check("FAIL", "live probe: the shim saw the probe but its run is %s, not finished",
                  state ? state : "unreadable");
        else if (ver && strcmp(ver, TESTMON_SHIM_VERSION) != 0)
            check("warn", "live probe: works, but the library is version %s and this command "
                  "%s", ver, TESTMON_SHIM_VERSION);
        else
            check("ok", "live probe: a pytest process under the preload published its run "
                  "(state finished)%s", c.err && *c.err ? ", with messages on stderr" : "");
        if (files && state && strcmp(state, "finished") == 0)
            check_launcher(dir, answer);
        if (c.err && *c.err && failures == 0) {
            char line[300];
            check("warn", "live probe stderr: %s", first_line(c.err, line, sizeof line));
        }
        cJSON_Delete(answer);
        cJSON_Delete(run);
        free(files);
    }
    tool_child_free(&c);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int cmd_doctor(int argc, char **argv)
{
    const char *python_arg = NULL, *dir = NULL;
    int probe = 1;
    for (int i = 1; i < argc; i++) {
        if (TOOL_IS_HELP(argv[i])) {
            tool_help();
            return TOOL_OK;
        } else if (strcmp(argv[i], "--python") == 0) {
            if (++i >= argc)
                return tool_usage_error("doctor: --python needs a PATH");
            python_arg = argv[i];
        } else if (strncmp(argv[i], "--python=", 9) == 0)
            python_arg = argv[i] + 9;
        else if (strcmp(argv[i], "--no-probe") == 0)
            probe = 0;
        else if (argv[i][0] == '-' && argv[i][1])
            return tool_usage_error("doctor: unknown option '%s'", argv[i]);
        else if (dir)
            return tool_usage_error("doctor: more than one directory given");
        else
            dir = argv[i];
    }
    const char *t = getenv("TESTMON_SHIM_DOCTOR_TIMEOUT");
    if (t && *t) { /* the doctor's own deadline, in the grammar of the library's timeout */
        if (shim_envvars_seconds(t, 3600, &QUERY_TIMEOUT_MS) != 0)
            return tool_usage_error("doctor: TESTMON_SHIM_DOCTOR_TIMEOUT=%s is not a number of "
                                    "seconds", t);
        PROBE_TIMEOUT_MS = QUERY_TIMEOUT_MS;
    }
    char python[PATH_MAX], why[PATH_MAX + 64];
    if (python_arg && find_python(python_arg, python, sizeof python, why, sizeof why) != 0)
        return tool_usage_error("doctor: --python %s", why);
    struct stat st;
    if (dir && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return tool_usage_error("doctor: %s is not a directory", dir);

    char lib[PATH_MAX];
    int have_lib = check_library(lib, sizeof lib) == 0;
    cJSON *info = NULL;
    if (!python_arg && find_python("python3", python, sizeof python, why, sizeof why) != 0)
        check("FAIL", "interpreter: %s", why);
    else if ((info = query_python(python))) {
        check("ok", "interpreter: %s (Python %s, sys.executable %s)", python,
              jstr(info, "version") ? jstr(info, "version") : "?",
              jstr(info, "executable") ? jstr(info, "executable") : "?");
        check_sqlite(info);
        check_packages(info);
        check_plugin(info);
    }
    check_directory(dir); /* no DIR: $TESTMON_SHIM_DIR, as status and clean */
    check_settings();
    if (!probe)
        check("note", "live probe: skipped (--no-probe)");
    else if (!have_lib || !info)
        check("note", "live probe: skipped (no library or no interpreter)");
    else
        live_probe(python, lib);
    cJSON_Delete(info);
    if (failures) {
        printf("verdict: cannot work: %s\n", first_failure);
        return DOCTOR_CANNOT;
    }
    if (warnings) {
        printf("verdict: works, with %d warning(s)\n", warnings);
        return DOCTOR_WARNINGS;
    }
    printf("verdict: works\n");
    return DOCTOR_WORKS;
}
