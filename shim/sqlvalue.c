/* sqlvalue.c: typed value encoding, and running the shim's own SQL. */
#include "sqlvalue.h"
#include "hex.h"
#include "log.h"
#include "real.h"
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *tagged(const char *tag, cJSON *v)
{
    cJSON *o = cJSON_CreateObject();
    if (o && v)
        cJSON_AddItemToObject(o, tag, v);
    else
        cJSON_Delete(v);
    return o;
}

/* A JSON number that parses back to exactly d.  cJSON_CreateNumber prints "%1.15g" unless that
 * is off by more than an epsilon, so 0.30000000000000004 became 0.3 and DBL_MAX overflowed to
 * inf; and it prints infinities as null.  "%.17g" is exact; +-Inf (SQLite has no NaN: it stores
 * NULL) is written as +-1e999, which strtod reads back as +-Inf.  The decimal point is '.'
 * whatever LC_NUMERIC says. */
static cJSON *exact_number(double d)
{
    char num[40];
    if (isinf(d)) {
        snprintf(num, sizeof num, "%s", d < 0 ? "-1e999" : "1e999");
    } else {
        snprintf(num, sizeof num, "%.17g", d);
        char point = localeconv()->decimal_point[0];
        for (char *p = num; *p; p++)
            if (*p == point)
                *p = '.';
    }
    return cJSON_CreateRaw(num);
}

/* {"<tag>": "<2n lowercase hex digits>"} */
static cJSON *tagged_hex(const char *tag, const unsigned char *b, int n)
{
    char *hex = malloc((size_t)n * 2 + 1);
    if (!hex)
        return NULL;
    for (int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", b[i]);
    hex[2 * n] = 0;
    cJSON *s = cJSON_CreateString(hex);
    free(hex);
    return tagged(tag, s);
}

cJSON *shim_value_from_column(sqlite3_stmt *stmt, int col)
{
    char num[32];
    switch (REAL(sqlite3_column_type)(stmt, col)) {
    case SQLITE_INTEGER:
        snprintf(num, sizeof num, "%" PRId64, (int64_t)REAL(sqlite3_column_int64)(stmt, col));
        return tagged("i", cJSON_CreateString(num));
    case SQLITE_FLOAT:
        return tagged("f", exact_number(REAL(sqlite3_column_double)(stmt, col)));
    case SQLITE_TEXT: {
        /* Text is a JSON string unless it holds a NUL byte, which a C string would cut short:
         * then its bytes go as hex, tagged "t". */
        const char *t = (const char *)REAL(sqlite3_column_text)(stmt, col);
        int n = REAL(sqlite3_column_bytes)(stmt, col);
        if (!t)
            return NULL; /* out of memory: the caller drops the row, never an empty string */
        if (memchr(t, 0, (size_t)n))
            return tagged_hex("t", (const unsigned char *)t, n);
        return cJSON_CreateString(t);
    }
    case SQLITE_BLOB:
        return tagged_hex("b", REAL(sqlite3_column_blob)(stmt, col),
                          REAL(sqlite3_column_bytes)(stmt, col));
    default:
        return cJSON_CreateNull();
    }
}

/* Exactly 2n hex digits (sscanf("%2x") would take " 1", "+1" or "0g" as a byte). */
static int unhex(const char *s, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = shim_hexval(s[2 * i]), lo = shim_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi * 16 + lo);
    }
    return 0;
}

int shim_value_bind(sqlite3_stmt *stmt, int idx, const cJSON *v)
{
    if (cJSON_IsNull(v))
        return REAL(sqlite3_bind_null)(stmt, idx);
    if (cJSON_IsString(v))
        return REAL(sqlite3_bind_text)(stmt, idx, v->valuestring, -1, SQLITE_TRANSIENT);
    if (!cJSON_IsObject(v) || !v->child || v->child->next)
        return SQLITE_MISMATCH;
    const cJSON *c = v->child;
    if (strcmp(c->string, "i") == 0 && cJSON_IsString(c)) {
        /* "-"? digits, in range: strtoll alone would take "", " 5" or an overflow (clamped). */
        const char *s = c->valuestring;
        char *end;
        if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9')))
            return SQLITE_MISMATCH;
        int saved = errno;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        int range = errno;
        errno = saved;
        return (*end || range) ? SQLITE_MISMATCH : REAL(sqlite3_bind_int64)(stmt, idx, x);
    }
    if (strcmp(c->string, "f") == 0 && cJSON_IsNumber(c))
        return REAL(sqlite3_bind_double)(stmt, idx, c->valuedouble);
    int blob = strcmp(c->string, "b") == 0;
    if ((blob || strcmp(c->string, "t") == 0) && cJSON_IsString(c)) {
        size_t len = strlen(c->valuestring);
        if (len % 2)
            return SQLITE_MISMATCH;
        unsigned char *buf = malloc(len / 2 + 1);
        if (!buf)
            return SQLITE_NOMEM;
        int rc = SQLITE_MISMATCH;
        if (unhex(c->valuestring, buf, len / 2) == 0)
            rc = blob ? REAL(sqlite3_bind_blob)(stmt, idx, buf, (int)(len / 2), SQLITE_TRANSIENT)
                      : REAL(sqlite3_bind_text)(stmt, idx, (const char *)buf, (int)(len / 2),
                                                SQLITE_TRANSIENT);
        free(buf);
        return rc;
    }
    return SQLITE_MISMATCH;
}

int shim_sql_column_lists(const cJSON *cols, int assign, char **names, char **marks)
{
    *names = REAL(sqlite3_mprintf)("");
    *marks = REAL(sqlite3_mprintf)("");
    const cJSON *c;
    cJSON_ArrayForEach(c, cols)
    {
        if (!cJSON_IsString(c) || !*names || !*marks)
            break;
        char *n = REAL(sqlite3_mprintf)(assign ? "%s, \"%w\" = ?" : "%s, \"%w\"", *names,
                                        c->valuestring);
        char *m = REAL(sqlite3_mprintf)("%s, ?", *marks);
        REAL(sqlite3_free)(*names);
        REAL(sqlite3_free)(*marks);
        *names = n;
        *marks = m;
    }
    if (!c && *names && *marks)
        return SQLITE_OK;
    REAL(sqlite3_free)(*names);
    REAL(sqlite3_free)(*marks);
    *names = *marks = NULL;
    return c ? SQLITE_MISMATCH : SQLITE_NOMEM;
}

int shim_sql_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = REAL(sqlite3_exec)(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        shim_log_debug("internal SQL failed (%d: %s): %.200s", rc, err ? err : "?", sql);
        REAL(sqlite3_free)(err);
    }
    return rc;
}
