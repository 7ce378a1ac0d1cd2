#include "path.h"

#include <fcntl.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <string.h>

#include "fmt.h"
#include "sys.h"

/* Words of 8 bytes, to look at a path 8 bytes at a time (no libc: this also runs at every process's
 * start, where a libc function's first call costs a binding by the dynamic linker). */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* A high bit in each byte of W that equals C (exact for every byte, unlike the borrowing form). */
static inline uint64_t bytes_equal(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c), low7 = ONES * 0x7f;
    return ~((((x & low7) + low7) | x) | low7);
}

/* Whether a '/' at or after FROM in P (N bytes, NUL after them) starts an empty, "." or ".."
 * component. */
static int bad_component(const char *p, size_t from, size_t n)
{
    for (size_t j = from; j < n; j++) {
        if (p[j] != '/')
            continue;
        const char *c = p + j + 1;
        if (*c == '/' || (*c == '.' && (c[1] == '/' || c[1] == '\0' || (c[1] == '.' && (c[2] == '/' || c[2] == '\0')))))
            return 1;
    }
    return 0;
}

/* Whether P (N bytes) is already normal: no empty, "." or ".." component and no trailing "/".
 * Nearly every path a program hands to a create is.  Eight bytes at a time, it is enough to know
 * that no '/' is followed by '/' or '.': only then (a dot-file, or a path to rewrite) is it looked
 * at byte by byte. */
int tg_path_normal(const char *p, size_t n)
{
    if (n > 1 && p[n - 1] == '/')
        return 0;
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    return !bad_component(p, 0, n); /* the tricks below read bytes in little-endian order */
#else
    uint64_t carry = 0; /* the previous block ended with '/' */
    size_t i = 0;
#if defined(__SSE2__)
    /* Sixteen bytes at a time: a bit for each '/' and each '.'.  Only bytes of the path are read:
     * the last block is the path's last sixteen bytes, overlapping the one before (a pair that
     * straddles two blocks lies inside one of them then). */
    if (n >= 16) {
        const __m128i slash16 = _mm_set1_epi8('/'), dot16 = _mm_set1_epi8('.');
        for (;; i += 16) {
            if (i + 16 > n)
                i = n - 16;
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            uint32_t slash = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, slash16));
            uint32_t either = slash | (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, dot16));
            if ((slash << 1) & either || (carry & either & 1))
                return !bad_component(p, 0, n);
            if (i + 16 == n)
                return 1;
            carry = slash >> 15;
        }
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t slash = bytes_equal(w, '/'), either = slash | bytes_equal(w, '.');
        if ((slash << 8) & either || (carry && (either & 0x80)))
            return !bad_component(p, 0, n);
        carry = slash >> 63;
    }
    (void)carry;
    return !bad_component(p, i ? i - 1 : 0, n);
#endif
}

size_t tg_normalize_len(char *p, size_t n)
{
    /* p[0] == '/'.  Write components back in place; ".." pops the last one. */
    size_t out = 0, i = 0;
    if (tg_path_normal(p, n))
        return n;
    while (i < n) {
        while (i < n && p[i] == '/')
            i++;
        size_t s = i;
        while (i < n && p[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 0 || (len == 1 && p[s] == '.'))
            continue;
        if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
            while (out > 0 && p[out - 1] != '/')
                out--;
            if (out > 0)
                out--;
            continue;
        }
        p[out++] = '/';
        memmove(p + out, p + s, len);
        out += len;
    }
    if (out == 0)
        p[out++] = '/';
    p[out] = '\0';
    return out;
}

size_t tg_normalize(char *p) { return tg_normalize_len(p, strlen(p)); }

int tg_resolve(int dfd, const char *path, char abs[])
{
    size_t plen = strlen(path), base = 0;
    if (plen == 0 || plen >= TG_PATH_MAX)
        return -1;
    if (path[0] != '/') {
        long n;
        if (dfd == AT_FDCWD) {
            n = tg_getcwd(abs, TG_PATH_MAX);
            /* The kernel returns the length including the NUL; an unreachable directory comes
             * back as "(unreachable)/...": not a path to act on. */
            if (n <= 1 || abs[0] != '/')
                return -1;
            n--;
        } else {
            char link[40], num[21];
            strcpy(link, "/proc/self/fd/");
            strcat(link, tg_fmt_u64(num, (unsigned)dfd));
            n = tg_readlinkat(AT_FDCWD, link, abs, TG_PATH_MAX - 1);
            if (n <= 0 || abs[0] != '/')
                return -1;
            abs[n] = '\0';
            if (n > 10 && strcmp(abs + n - 10, " (deleted)") == 0)
                return -1;
        }
        base = (size_t)n;
        if (base + 1 + plen >= TG_PATH_MAX)
            return -1;
        abs[base++] = '/';
    }
    memcpy(abs + base, path, plen + 1);
    return (int)tg_normalize_len(abs, base + plen);
}


/* One bracket expression at *P (after its '['), against the byte C: 1 or 0 (never for a '/': a
 * bracket stays within a component), or -1 when it is not closed (then the '[' is an ordinary
 * byte).  *P moves past it. */
static int bracket(const char **p, unsigned char c)
{
    const char *s = *p;
    int negate = *s == '!' || *s == '^', found = 0;
    s += negate;
    for (int first = 1; *s && (first || *s != ']'); first = 0) {
        unsigned char lo = (unsigned char)*s++, hi = lo;
        if (lo == '\\' && *s)
            lo = hi = (unsigned char)*s++;
        if (*s == '-' && s[1] && s[1] != ']') {
            hi = (unsigned char)s[1];
            s += 2;
            if (hi == '\\' && *s)
                hi = (unsigned char)*s++;
        }
        found |= c >= lo && c <= hi;
    }
    if (*s != ']')
        return -1;
    *p = s + 1;
    return c != '/' && found != negate;
}

int tg_path_matches(const char *pat, const char *str, size_t len)
{
    size_t pl = strlen(pat);
    if (pl && pat[pl - 1] == '/')
        return len > pl && memcmp(str, pat, pl) == 0;
    const char *s = str, *end = str + len;
    /* Backtracking over the last '*' only: each '*' stays within one path component, so a later
     * '*' never needs an earlier one to match more. */
    const char *star_p = NULL, *star_s = NULL;
    for (;;) {
        if (*pat == '*') {
            while (*pat == '*')
                pat++;
            star_p = pat;
            star_s = s;
            continue;
        }
        if (s == end && !*pat)
            return 1;
        if (s < end && *pat) {
            const char *next = pat + 1;
            int ok;
            if (*pat == '?') {
                ok = *s != '/';
            } else if (*pat == '[') {
                int b = bracket(&next, (unsigned char)*s);
                ok = b < 0 ? *s == '[' : b; /* not closed: an ordinary '[' */
                if (b < 0)
                    next = pat + 1;
            } else if (*pat == '\\' && pat[1]) {
                ok = *s == pat[1];
                next = pat + 2;
            } else {
                ok = *s == *pat;
            }
            if (ok) {
                pat = next;
                s++;
                continue;
            }
        }
        /* Let the last '*' take one more byte, unless that byte is a '/'. */
        if (star_p && star_s < end && *star_s != '/') {
            star_s++;
            pat = star_p;
            s = star_s;
            continue;
        }
        return 0;
    }
}
