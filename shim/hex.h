/* hex.h: one hexadecimal digit's value (URI escapes in datafile.c, blob encoding in
 * sqlvalue.c). */
#ifndef SHIM_HEX_H
#define SHIM_HEX_H
static inline int shim_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
#endif
