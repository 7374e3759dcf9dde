/* cmd_clean.c: `testmon-shim clean [--dry-run] [DIR]`: remove the files of runs whose controller
 * is gone and stray temporary files, never those of a live run; never follows symlinks. */
#include "../shim/runid.h" /* shim_run_alive: the library's rule */
#include "runfiles.h"
#include "tool.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What clean removes, in order: the stale files (of runs whose controller is gone, temporary
 * files of dead writers), then, when nothing else is left, the directory's markers and the
 * directory itself.  Both `clean` and `clean --dry-run` walk this one list. */
struct clean_item {
    const struct tool_file *file;
    int symlink;
};
struct clean_plan {
    struct clean_item *remove; /* plan.n entries, markers last */
    size_t n, kept, live_runs;
    int remove_dir;
};

static int plan_clean(int dfd, const struct tool_file *files, size_t n, struct clean_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->remove = calloc(n ? n : 1, sizeof *plan->remove);
    if (!plan->remove)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct tool_file *f = &files[i];
        int stale;
        if (f->kind == TF_MARKER)
            continue; /* the directory's own: below, once nothing else is left */
        if (f->kind == TF_TEMP)
            stale = !tool_pid_exists(f->pid);
        else if (f->kind == TF_OTHER)
            stale = 0;
        else {
            stale = !shim_run_alive(&(struct shim_run){f->pid, f->start});
            if (!stale && f->kind == TF_RUN)
                plan->live_runs++;
        }
        struct stat fst;
        if (!stale || fstatat(dfd, f->name, &fst, AT_SYMLINK_NOFOLLOW) != 0 ||
            S_ISDIR(fst.st_mode)) {
            plan->kept++;
            continue;
        }
        plan->remove[plan->n].file = f;
        plan->remove[plan->n++].symlink = S_ISLNK(fst.st_mode);
    }
    if (plan->kept)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (files[i].kind == TF_MARKER)
            plan->remove[plan->n++].file = &files[i];
    plan->remove_dir = 1;
    return 0;
}

int cmd_clean(int argc, char **argv)
{
    int dry = 0;
    const char *arg_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (TOOL_IS_HELP(argv[i])) {
            tool_help();
            return TOOL_OK;
        } else if (strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "-n") == 0)
            dry = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return tool_usage_error("clean: unknown option '%s'", argv[i]);
        else if (arg_dir)
            return tool_usage_error("clean: more than one directory given");
        else
            arg_dir = argv[i];
    }
    char dir[PATH_MAX];
    if (tool_coord_dir(arg_dir, dir, sizeof dir) != 0) {
        tool_error("clean: directory name too long");
        return TOOL_USAGE;
    }
    struct stat st;
    if (arg_dir && (stat(arg_dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        return tool_usage_error("clean: %s is not a directory", arg_dir);
    if (lstat(dir, &st) != 0) {
        printf("nothing to clean: no %s\n", dir);
        return TOOL_OK;
    }
    if (!S_ISDIR(st.st_mode)) {
        tool_error("clean: refusing %s: not a directory (a symlink?); remove it yourself", dir);
        return TOOL_FAIL;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        tool_error("clean: cannot open %s: %s", dir, strerror(errno));
        return TOOL_FAIL;
    }
    size_t n = 0;
    struct tool_file *files = tool_list_dir(dir, &n);
    if (!files) {
        tool_error("clean: cannot read %s: %s", dir, strerror(errno));
        close(dfd);
        return TOOL_FAIL;
    }
    struct clean_plan plan;
    if (plan_clean(dfd, files, n, &plan) != 0) {
        tool_error("clean: out of memory");
        free(files);
        close(dfd);
        return TOOL_FAIL;
    }
    int rc = TOOL_OK;
    /* --dry-run says what this loop would do, entry by entry: one plan, so the two agree. */
    for (size_t i = 0; i < plan.n; i++) {
        const struct tool_file *f = plan.remove[i].file;
        const char *what = plan.remove[i].symlink ? " (a symlink, not followed)" : "";
        if (f->kind == TF_MARKER && rc != TOOL_OK)
            break; /* something of a run is left: the markers stay, and the directory */
        if (dry)
            printf("would remove %s/%s%s\n", dir, f->name, what);
        else if (unlinkat(dfd, f->name, 0) == 0)
            printf("removed %s/%s%s\n", dir, f->name, what);
        else if (errno != ENOENT) {
            tool_error("clean: cannot remove %s/%s: %s", dir, f->name, strerror(errno));
            rc = TOOL_FAIL;
            plan.kept++;
        }
    }
    if (plan.kept)
        printf("kept %zu file(s) in %s (%zu live run(s))\n", plan.kept, dir, plan.live_runs);
    if (plan.remove_dir && rc == TOOL_OK) {
        if (dry)
            printf("would remove %s\n", dir);
        else if (rmdir(dir) == 0)
            printf("removed %s\n", dir);
        else if (errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
            tool_error("clean: cannot remove %s: %s", dir, strerror(errno));
    }
    free(plan.remove);
    free(files);
    close(dfd);
    return rc;
}
