/* Text without stdio: numbers in decimal and hex, and a bounded line buffer.  Everything here is
 * async-signal-safe (no allocation, no locale, no errno), for the log, the signal path and the
 * reports. */
#ifndef TG_FMT_H
#define TG_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Formats V in decimal into BUF (at least 21 bytes) and returns BUF. */
char *tg_fmt_u64(char *buf, unsigned long long v);

/* A line being built in a caller's buffer.  Appends that do not fit are cut (and `cut` is set):
 * a line is never written past its buffer. */
struct tg_buf {
    char *p;
    size_t len, cap;
    int cut;
};
static inline void tg_buf_init(struct tg_buf *b, char *mem, size_t cap)
{
    b->p = mem;
    b->len = 0;
    b->cap = cap;
    b->cut = 0;
}
void tg_buf_mem(struct tg_buf *b, const char *s, size_t n);
void tg_buf_str(struct tg_buf *b, const char *s);
void tg_buf_u64(struct tg_buf *b, unsigned long long v);
void tg_buf_i64(struct tg_buf *b, long long v);
void tg_buf_hex(struct tg_buf *b, unsigned long long v); /* "0x..." */
/* S (N bytes) as the inside of a JSON string: quotes, backslashes and control bytes escaped, and a
 * byte that is not part of valid UTF-8 written as \u00XX (so every line parses). */
void tg_buf_json(struct tg_buf *b, const char *s, size_t n);

#endif
