/* cmd_clean.c: `testmon-shim clean [--dry-run] [DIR]`: remove the files of runs whose controller
 * is gone and stray temporary files, never those of a live run; never follows symlinks. */
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
    int rc = TOOL_OK;
    size_t removed = 0, kept = 0, live_runs = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tool_file *f = &files[i];
        int stale;
        if (f->kind == TF_MARKER)
            continue; /* the directory's own: removed with it, below */
        if (f->kind == TF_TEMP)
            stale = !tool_pid_exists(f->pid);
        else if (f->kind == TF_OTHER)
            stale = 0;
        else {
            stale = !tool_run_alive(f->pid, f->start);
            if (!stale && f->kind == TF_RUN)
                live_runs++;
        }
        if (!stale) {
            kept++;
            continue;
        }
        struct stat fst;
        if (fstatat(dfd, f->name, &fst, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(fst.st_mode)) {
            kept++;
            continue;
        }
        const char *what = S_ISLNK(fst.st_mode) ? " (a symlink, not followed)" : "";
        if (dry) {
            printf("would remove %s/%s%s\n", dir, f->name, what);
            removed++;
        } else if (unlinkat(dfd, f->name, 0) == 0) {
            printf("removed %s/%s%s\n", dir, f->name, what);
            removed++;
        } else if (errno != ENOENT) {
            tool_error("clean: cannot remove %s/%s: %s", dir, f->name, strerror(errno));
            rc = TOOL_FAIL;
            kept++;
        }
    }
    /* Nothing of any run left: the markers go too, then the directory. */
    for (size_t i = 0; i < n && !dry && kept == 0 && rc == TOOL_OK; i++) {
        if (files[i].kind != TF_MARKER)
            continue;
        if (unlinkat(dfd, files[i].name, 0) == 0)
            printf("removed %s/%s\n", dir, files[i].name);
        else if (errno != ENOENT) {
            tool_error("clean: cannot remove %s/%s: %s", dir, files[i].name, strerror(errno));
            rc = TOOL_FAIL;
        }
    }
    free(files);
    close(dfd);
    if (kept)
        printf("kept %zu file(s) in %s (%zu live run(s))\n", kept, dir, live_runs);
    if (!dry && kept == 0 && rc == TOOL_OK) {
        if (rmdir(dir) == 0)
            printf("removed %s\n", dir);
        else if (errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
            tool_error("clean: cannot remove %s: %s", dir, strerror(errno));
    } else if (dry && kept == 0)
        printf("would remove %s\n", dir);
    (void)removed;
    return rc;
}
