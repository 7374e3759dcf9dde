/* fuzz_runfile.c: a hostile run file, as a worker reads and uses it.
 *
 * The input is written verbatim as this worker's run file (<dir>/run-<pid>-<start>.json; the
 * token @DF@ is replaced by the real datafile path so that inputs can reach the "same datafile"
 * branch).  Then:
 *   1. shim_coord_read() parses it (size and type checks, trailing junk, non-objects);
 *   2. shim_worker_open() waits for it (state), checks "datafile", opens the datafile read-only
 *      and installs the shadows, filling temp.environment from the "environment" snapshot
 *      (fill_from_snapshot: columns, rows, tagged values); a successful open is closed again
 *      through shim_close.
 * Nothing may crash, leak or trip a sanitizer, whatever the file says. */
#include "dispatch.h"
#include "fuzz_common.h"
#include "worker.h"

static const char *DF;
static char runfile[PATH_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_real_fill();
    DF = fuzz_make_datafile("runfile");
    fuzz_be_worker(DF);
    snprintf(runfile, sizeof runfile, "%s.json", fuzz_run.run_name);
    return 0;
}

/* data with every "@DF@" replaced by the datafile path; malloc'd, *outlen set. */
static char *expand(const uint8_t *data, size_t size, size_t *outlen)
{
    size_t dl = strlen(DF), cap = size + 1, n = 0;
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(data + i, "@DF@", 4) == 0)
            cap += dl;
    char *out = malloc(cap);
    for (size_t i = 0; i < size;) {
        if (i + 4 <= size && memcmp(data + i, "@DF@", 4) == 0) {
            memcpy(out + n, DF, dl);
            n += dl;
            i += 4;
        } else {
            out[n++] = (char)data[i++];
        }
    }
    out[n] = 0;
    *outlen = n;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len;
    char *text = expand(data, size, &len);
    char path[PATH_MAX + 160];
    snprintf(path, sizeof path, "%s/%s", fuzz_run.dir, runfile);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fwrite(text, 1, len, f);
    fclose(f);
    free(text);

    int missing = 0;
    cJSON *j = shim_coord_read(fuzz_run.dir, runfile, &missing);
    if (missing)
        abort(); /* we just wrote it */
    cJSON_Delete(j);

    sqlite3 *db = NULL;
    int rc = shim_worker_open(&fuzz_run, DF, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK && db) {
        /* the shadows must answer a read */
        sqlite3_stmt *st = NULL;
        if (shim_prepare(SHIM_PREPARE_V2, db, "SELECT count(*) FROM environment", -1, 0, &st,
                         NULL) == SQLITE_OK)
            shim_step(st, sqlite3_step);
        sqlite3_finalize(st);
        if (shim_close(db, sqlite3_close) != SQLITE_OK)
            abort();
    } else if (db) {
        sqlite3_close(db);
    }
    if (atomic_load(&shim_conn_count) != 0)
        abort(); /* a connection left registered */
    return 0;
}
