/* fuzz_journal.c: a hostile worker journal, as the controller replays it.
 *
 * The input is parsed as JSON (as shim_coord_read would hand it over: any object) and given to
 * shim_journal_apply() on an in-memory database with a testmon-like schema, inside a
 * transaction that is rolled back afterwards so every input sees the same database.  Nothing may
 * crash, leak or trip a sanitizer; apply must return -1 or a count no larger than the ops. */
#include "fuzz_common.h"
#include "journal.h"

static sqlite3 *db;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_real_fill();
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db, FUZZ_SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
        abort();
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0);
    if (!j)
        return 0;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        abort();
    int n = shim_journal_apply(db, j);
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(j, "ops");
    if (n < -1 || (n >= 0 && n > cJSON_GetArraySize(ops)))
        abort();
    if (sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK || !sqlite3_get_autocommit(db))
        abort(); /* apply must leave the caller's transaction as it found it */
    cJSON_Delete(j);
    return 0;
}
