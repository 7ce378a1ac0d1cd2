#include "pysite.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "fmt.h"
#include "recfmt.h"

/* CPython's API as far as the hook uses it, by symbol: the library does not link libpython, and
 * works in any process whether CPython is there or not. */
typedef struct py_object py_object;
typedef int (*py_hook)(const char *event, py_object *args, void *data);
static struct {
    int (*add_hook)(py_hook, void *);
    py_object *(*get_frame)(void);                     /* PyEval_GetFrame: borrowed, or NULL */
    py_object *(*frame_back)(py_object *);             /* PyFrame_GetBack: new reference (3.9+) */
    py_object *(*frame_code)(py_object *);             /* PyFrame_GetCode: new reference (3.9+) */
    int (*frame_line)(py_object *);                    /* PyFrame_GetLineNumber */
    py_object *(*get_attr)(py_object *, const char *); /* PyObject_GetAttrString: new reference */
    const char *(*utf8)(py_object *, ssize_t *);       /* PyUnicode_AsUTF8AndSize: borrowed buffer */
    char *(*bytes)(py_object *);                       /* PyBytes_AsString: borrowed buffer */
    py_object *(*tuple_item)(py_object *, ssize_t);    /* PyTuple_GetItem: borrowed */
    ssize_t (*tuple_size)(py_object *);
    long (*as_long)(py_object *);
    py_object *(*sys_get)(const char *);               /* PySys_GetObject: borrowed */
    py_object *(*dict_get)(py_object *, const char *); /* PyDict_GetItemString: borrowed */
    void (*decref)(py_object *);                       /* Py_DecRef: NULL-safe */
    void (*err_clear)(void);
} py;

/* Frames kept per site: the line that created and two of its callers. */
#define PY_FRAMES 3
/* Frames looked at, at most, from the innermost outward (deep recursion in a framework). */
#define PY_DEPTH 64
#define NAME_MAX_LEN 255

/* What the hook saw last on a thread: the name of the file the event said would be created and the
 * frames that led there.  One per thread that raised such an event, allocated in the hook (GIL held,
 * never a signal handler) and freed when the thread ends. */
struct pending {
    int valid;
    size_t nlen, len;
    int nframes;
    char name[NAME_MAX_LEN + 1];
    char text[TG_SITE_TEXT_MAX];
};
static __thread struct pending *mine __attribute__((tls_model("initial-exec")));
static pthread_key_t mine_key;
static int key_made;

/* The standard library's directory ("/usr/lib/python3.11/"), from os.__file__, found once: its
 * frames are not the developer's.  "" when it cannot be told. */
static char stdlib[512];
static int stdlib_known;

static const char *text_of(py_object *o, ssize_t *len)
{
    const char *s = o ? py.utf8(o, len) : NULL;
    if (!s && o) {
        py.err_clear();
        char *b = py.bytes(o);
        if (b) {
            *len = (ssize_t)strlen(b);
            return b;
        }
        py.err_clear();
    }
    return s;
}

static void find_stdlib(void)
{
    stdlib_known = 1;
    py_object *mods = py.sys_get("modules"), *os = mods ? py.dict_get(mods, "os") : NULL;
    py_object *file = os ? py.get_attr(os, "__file__") : NULL;
    ssize_t len = 0;
    const char *f = text_of(file, &len);
    const char *slash = f ? memrchr(f, '/', (size_t)len) : NULL;
    if (slash && (size_t)(slash - f) + 2 < sizeof stdlib) {
        memcpy(stdlib, f, (size_t)(slash - f) + 1);
        stdlib[slash - f + 1] = '\0';
    }
    py.decref(file);
    py.err_clear();
}

/* Not the developer's code: the standard library (but not packages installed inside its tree) and
 * frozen modules ("<frozen importlib._bootstrap>"); "<string>" and "<stdin>" are the developer's. */
static int library_frame(const char *file, size_t len)
{
    if (len > 8 && memcmp(file, "<frozen ", 8) == 0)
        return 1;
    size_t sl = strlen(stdlib);
    if (!sl || len <= sl || memcmp(file, stdlib, sl) != 0)
        return 0;
    const char *rest = file + sl;
    return !(strncmp(rest, "site-packages/", 14) == 0 || strncmp(rest, "dist-packages/", 14) == 0 ||
             memmem(rest, len - sl, "/site-packages/", 15) || memmem(rest, len - sl, "/dist-packages/", 15));
}

/* One frame as site text: "file\tline\tfunction\n". */
static void add_frame(struct tg_buf *b, py_object *frame, const char *file, ssize_t flen)
{
    py_object *code = py.frame_code(frame);
    py_object *name = code ? py.get_attr(code, "co_name") : NULL;
    ssize_t nlen = 0;
    const char *n = text_of(name, &nlen);
    tg_buf_mem(b, file, (size_t)flen);
    tg_buf_str(b, "\t");
    tg_buf_i64(b, py.frame_line(frame));
    tg_buf_str(b, "\t");
    if (n)
        tg_buf_mem(b, n, (size_t)nlen);
    tg_buf_str(b, "\n");
    py.decref(name);
    py.decref(code);
    py.err_clear();
}

/* The frames of this thread, innermost first: the first PY_FRAMES outside the library, or, when
 * every frame is the library's (python -m of a standard module), the innermost ones. */
static void take_frames(struct pending *p)
{
    struct tg_buf b, fallback;
    char spare[TG_SITE_TEXT_MAX];
    int n = 0, nf = 0;
    tg_buf_init(&b, p->text, sizeof p->text - 1);
    tg_buf_init(&fallback, spare, sizeof spare - 1);
    py_object *f = py.get_frame(), *owned = NULL;
    for (int depth = 0; f && n < PY_FRAMES && depth < PY_DEPTH; depth++) {
        py_object *code = py.frame_code(f), *file = code ? py.get_attr(code, "co_filename") : NULL;
        ssize_t flen = 0;
        const char *fn = text_of(file, &flen);
        if (fn && !library_frame(fn, (size_t)flen)) {
            add_frame(&b, f, fn, flen);
            n++;
        } else if (fn && nf < PY_FRAMES && strncmp(fn, "<frozen ", 8) != 0) {
            add_frame(&fallback, f, fn, flen);
            nf++;
        }
        py.decref(file);
        py.decref(code);
        py.err_clear();
        py_object *back = py.frame_back(f);
        py.decref(owned);
        f = owned = back;
    }
    py.decref(owned);
    py.err_clear();
    if (!n && nf) {
        memcpy(p->text, spare, fallback.len);
        b.len = fallback.len;
        b.cut = fallback.cut;
        n = nf;
    }
    /* A frame cut in the middle is dropped whole. */
    if (b.cut) {
        while (b.len && p->text[b.len - 1] != '\n')
            b.len--;
        n = 0;
        for (size_t i = 0; i < b.len; i++)
            n += p->text[i] == '\n';
    }
    p->len = b.len;
    p->text[b.len] = '\0';
    p->nframes = n;
}

/* Whether an `open` event's mode and flags create: a mode with w, a or x (open()), or no mode and
 * O_CREAT in the flags (os.open). */
static int open_creates(py_object *args)
{
    py_object *mode = py.tuple_item(args, 1);
    ssize_t len = 0;
    const char *m = mode ? py.utf8(mode, &len) : NULL;
    if (m)
        return strpbrk(m, "wax") != NULL;
    py.err_clear();
    py_object *flags = py.tuple_item(args, 2);
    long fl = flags ? py.as_long(flags) : 0;
    py.err_clear();
    return fl != -1 && (fl & O_CREAT);
}

static void forget_mine(void *p) { free(p); }

/* Runs for every audit event of the process, with the GIL held: rejects all but four by their
 * first letters.  Never fails the event (returns 0) and leaves no exception set. */
static int hook(const char *event, py_object *args, void *data)
{
    (void)data;
    if (event[0] == 'o') {
        if (strcmp(event, "open") != 0 && strcmp(event, "os.mkdir") != 0)
            return 0;
    } else if (event[0] != 't' || strncmp(event, "tempfile.mk", 11) != 0) {
        return 0;
    }
    if (!args || py.tuple_size(args) < 1) {
        py.err_clear();
        return 0;
    }
    if (event[0] == 'o' && event[1] == 'p' && (py.tuple_size(args) < 3 || !open_creates(args)))
        return 0;
    ssize_t len = 0;
    const char *path = text_of(py.tuple_item(args, 0), &len);
    if (!path || len <= 0) {
        py.err_clear();
        return 0; /* a descriptor, or a path-like object: no name to match */
    }
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *slash = memrchr(path, '/', (size_t)len), *name = slash ? slash + 1 : path;
    size_t nlen = (size_t)len - (size_t)(name - path);
    if (!nlen || nlen > NAME_MAX_LEN)
        return 0;
    if (!mine) {
        if (!key_made && pthread_key_create(&mine_key, forget_mine) == 0)
            key_made = 1;
        if (!key_made || !(mine = malloc(sizeof *mine)))
            return 0;
        pthread_setspecific(mine_key, mine);
    }
    if (!stdlib_known)
        find_stdlib();
    mine->valid = 0;
    memcpy(mine->name, name, nlen);
    mine->nlen = nlen;
    take_frames(mine);
    mine->valid = mine->nframes > 0;
    return 0;
}

void tg_pysite_init(void)
{
#define FIND(field, sym) (py.field = (__typeof__(py.field))dlsym(RTLD_DEFAULT, sym)) != NULL
    /* Not CPython, or one without the frame API (before 3.9): the native call site is reported. */
    if (!(FIND(add_hook, "PySys_AddAuditHook") && FIND(get_frame, "PyEval_GetFrame") &&
          FIND(frame_back, "PyFrame_GetBack") && FIND(frame_code, "PyFrame_GetCode") &&
          FIND(frame_line, "PyFrame_GetLineNumber") && FIND(get_attr, "PyObject_GetAttrString") &&
          FIND(utf8, "PyUnicode_AsUTF8AndSize") && FIND(bytes, "PyBytes_AsString") &&
          FIND(tuple_item, "PyTuple_GetItem") && FIND(tuple_size, "PyTuple_Size") &&
          FIND(as_long, "PyLong_AsLong") && FIND(sys_get, "PySys_GetObject") &&
          FIND(dict_get, "PyDict_GetItemString") && FIND(decref, "Py_DecRef") && FIND(err_clear, "PyErr_Clear")))
        return;
#undef FIND
    /* Before Py_Initialize (this runs at load): CPython keeps hooks added then across its start. */
    (void)py.add_hook(hook, NULL);
}

size_t tg_pysite_take(const char *name, size_t n, char *out, size_t cap, int *nframes)
{
    struct pending *p = mine;
    if (!p || !p->valid || p->nlen != n || memcmp(p->name, name, n) != 0 || p->len >= cap)
        return 0;
    p->valid = 0;
    memcpy(out, p->text, p->len + 1);
    *nframes = p->nframes;
    return p->len;
}
