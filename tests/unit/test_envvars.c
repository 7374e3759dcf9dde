/* test_envvars.c: the grammar of the shim's settings (envvars.c), which the library, the command
 * and (tests/bats/helpers/envvars_check.py, against the same table of levels) the plugin share. */
#include "envvars.h"
#include "unit.h"

static void test_off(void)
{
    const char *const off[] = {"off", "OFF", "Off", "0", "false", "FALSE", "no", "No"};
    const char *const on[] = {"on", "1", "true", "yes", "", " off", "off ", "of", "offf", "n"};
    for (size_t i = 0; i < sizeof off / sizeof *off; i++)
        CHECK(shim_envvars_off(off[i]), "%s switches it off", off[i]);
    for (size_t i = 0; i < sizeof on / sizeof *on; i++)
        CHECK(!shim_envvars_off(on[i]), "'%s' does not", on[i]);
    CHECK(!shim_envvars_off(NULL), "unset does not");
}

static void test_timeout(void)
{
    long ms = -1;
    errno = 4242;
    CHECK_EQ_INT(shim_envvars_timeout_ms(NULL, &ms), 0);
    CHECK_EQ_INT(ms, 60000);
    CHECK_EQ_INT(shim_envvars_timeout_ms("", &ms), 0);
    CHECK_EQ_INT(ms, 60000);
    CHECK_EQ_INT(shim_envvars_timeout_ms("2.5", &ms), 0);
    CHECK_EQ_INT(ms, 2500);
    CHECK_EQ_INT(shim_envvars_timeout_ms("86400", &ms), 0);
    CHECK_EQ_INT(ms, 86400000);
    CHECK_EQ_INT(shim_envvars_timeout_ms("0.0001", &ms), 0); /* in range; whole milliseconds */
    CHECK_EQ_INT(ms, 0);
    const char *const bad[] = {"0", "-1", "86400.5", "soon", "5s", " ", "nan", "inf", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ms = -1;
        CHECK(shim_envvars_timeout_ms(bad[i], &ms) == -1 && ms == 60000, "%s: %ld", bad[i], ms);
    }
    CHECK_EQ_INT(errno, 4242);
    /* the doctor's own deadline: another bound, the same grammar */
    ms = -1;
    CHECK_EQ_INT(shim_envvars_seconds("3600", 3600, &ms), 0);
    CHECK_EQ_INT(ms, 3600000);
    ms = -1;
    CHECK_EQ_INT(shim_envvars_seconds("3601", 3600, &ms), -1);
    CHECK_EQ_INT(ms, -1); /* untouched */
    CHECK_EQ_INT(shim_envvars_seconds("", 3600, &ms), -1);
    CHECK_EQ_INT(shim_envvars_seconds(NULL, 3600, &ms), -1);
}

/* The table envvars_check.py holds the plugin's log_level to. */
static void test_log(void)
{
    static const struct {
        const char *value;
        int level;
        const char *file;
    } cases[] = {{NULL, 0, NULL},          {"", 0, NULL},         {"error", 0, NULL},
                 {"warn", 1, NULL},        {"info", 2, NULL},     {"debug", 3, NULL},
                 {"0", 0, NULL},           {"3", 3, NULL},        {"info:/tmp/x", 2, "/tmp/x"},
                 {"debug:", 3, NULL},      {"4", -1, NULL},       {"INFO", -1, NULL},
                 {"infox", -1, NULL},      {":info", -1, NULL},   {"warning", -1, NULL},
                 {"\xd9\xa3", -1, NULL},   {"2:", 2, NULL},       {"info:a:b", 2, "a:b"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *file = "unset";
        int level = shim_envvars_log(cases[i].value, &file);
        CHECK(level == cases[i].level, "'%s': level %d, want %d",
              cases[i].value ? cases[i].value : "(unset)", level, cases[i].level);
        CHECK(cases[i].file ? file && strcmp(file, cases[i].file) == 0 : !file,
              "'%s': file %s", cases[i].value ? cases[i].value : "(unset)",
              file ? file : "(none)");
    }
}

int main(void)
{
    RUN(test_off);
    RUN(test_timeout);
    RUN(test_log);
    return unit_finish();
}
