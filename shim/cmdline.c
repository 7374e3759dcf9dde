/* cmdline.c: this process's command line and the words that name pytest or Python (cmdline.h). */
#include "cmdline.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const char *const pytest_names[] = SHIM_CMDLINE_PYTEST_NAMES;
#define N_PYTEST_NAMES (sizeof pytest_names / sizeof *pytest_names)

size_t shim_cmdline(char *buf, size_t bufsz)
{
    int saved = errno;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, bufsz - 1) : -1;
    if (fd >= 0)
        close(fd);
    errno = saved;
    n = n > 0 ? n : 0;
    buf[n] = 0;
    return (size_t)n;
}

const char *shim_cmdline_base(const char *word)
{
    const char *slash = strrchr(word, '/');
    return slash ? slash + 1 : word;
}

int shim_cmdline_names_pytest(const char *word)
{
    const char *base = shim_cmdline_base(word);
    for (size_t i = 0; i < N_PYTEST_NAMES; i++)
        if (strncmp(base, pytest_names[i], strlen(pytest_names[i])) == 0)
            return 1;
    return 0;
}

int shim_cmdline_names_python(const char *word)
{
    return strncmp(shim_cmdline_base(word), "python", 6) == 0;
}

int shim_cmdline_pytest_module(const char *module)
{
    for (size_t i = 0; i < N_PYTEST_NAMES; i++)
        if (strcmp(module, pytest_names[i]) == 0)
            return 1;
    return 0;
}

int shim_cmdline_is_pytest(void)
{
    char buf[8192];
    size_t n = shim_cmdline(buf, sizeof buf);
    for (char *word = buf; word < buf + n; word += strlen(word) + 1)
        if (shim_cmdline_names_pytest(word))
            return 1;
    return 0;
}

int shim_named_like_python(void)
{
    const char *n = program_invocation_short_name;
    return shim_cmdline_names_python(n) || shim_cmdline_names_pytest(n);
}
