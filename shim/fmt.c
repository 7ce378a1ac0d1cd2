#include "fmt.h"


char *tg_fmt_u64(char *buf, unsigned long long v)
{
    char tmp[21];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return buf;
}

/* Byte loops, no libc: lines are short, and they are built at the end of every process (the heir
 * marker's name), where a libc function's first call costs a binding by the dynamic linker. */
void tg_buf_mem(struct tg_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b->len == b->cap) {
            b->cut = 1;
            return;
        }
        b->p[b->len++] = s[i];
    }
}

void tg_buf_str(struct tg_buf *b, const char *s)
{
    for (; *s; s++) {
        if (b->len == b->cap) {
            b->cut = 1;
            return;
        }
        b->p[b->len++] = *s;
    }
}

void tg_buf_u64(struct tg_buf *b, unsigned long long v)
{
    char num[21];
    tg_buf_str(b, tg_fmt_u64(num, v));
}

void tg_buf_i64(struct tg_buf *b, long long v)
{
    if (v < 0) {
        tg_buf_mem(b, "-", 1);
        tg_buf_u64(b, 0ull - (unsigned long long)v);
    } else {
        tg_buf_u64(b, (unsigned long long)v);
    }
}

void tg_buf_hex(struct tg_buf *b, unsigned long long v)
{
    char tmp[18];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    tg_buf_mem(b, "0x", 2);
    while (n)
        tg_buf_mem(b, &tmp[--n], 1);
}

/* The length of the valid UTF-8 sequence at S (N bytes left), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : 0;
    if (s[0] >= 0xf5 || len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* Overlong forms, surrogates and code points beyond U+10FFFF are not UTF-8. */
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) || (s[0] == 0xf0 && s[1] < 0x90) ||
        (s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return len;
}

void tg_buf_json(struct tg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *c = (const unsigned char *)s, *end = c + n;
    while (c < end) {
        size_t u = *c < 0x80 ? 1 : utf8_len(c, (size_t)(end - c));
        if (*c == '"' || *c == '\\') {
            char esc[2] = {'\\', (char)*c};
            tg_buf_mem(b, esc, 2);
        } else if (*c < 0x20 || *c == 0x7f || u == 0) {
            /* A control byte, or a byte that is not UTF-8 (a path is bytes): as the code point of
             * the same value, so that the line still parses. */
            char esc[6] = {'\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15]};
            tg_buf_mem(b, esc, 6);
        } else {
            tg_buf_mem(b, (const char *)c, u);
        }
        c += u ? u : 1;
    }
}
