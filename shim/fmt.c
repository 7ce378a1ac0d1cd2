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

void tg_buf_json(struct tg_buf *b, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char esc[2] = {'\\', (char)*c};
            tg_buf_mem(b, esc, 2);
        } else if (*c < 0x20 || *c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', "0123456789abcdef"[*c >> 4], "0123456789abcdef"[*c & 15]};
            tg_buf_mem(b, esc, 6);
        } else {
            tg_buf_mem(b, (const char *)c, 1);
        }
    }
}
