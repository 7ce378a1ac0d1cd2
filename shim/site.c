#include "site.h"

#include <dlfcn.h>
#include <link.h>
#include <sched.h>
#include <string.h>

#include "config.h"
#include "elfsym.h"
#include "fmt.h"
#include "pysite.h"
#include "recfmt.h"
#include "registry.h"
#include "sys.h"

int tg_site_on;

/* Frames unwound, at most: the shim's own (three or four) and the program's that a site keeps. */
#define UNWIND_FRAMES 10
/* The program's frames a native site keeps: the caller of the create and three above it. */
#define NATIVE_FRAMES 4
/* Distinct sites a process can name; a program with more leaking call sites than this is reported
 * by the first ones, the others without a site.  512 x 48 bytes, untouched unless reports are on. */
#define SITES 512

static int (*unwind)(void **, int); /* glibc's backtrace; NULL (musl): no native sites */
static uintptr_t own_lo, own_hi;    /* this library's code: frames there are the shim's */

/* Sites seen, by the hash of their frames: open addressing, under a spinlock of its own (held only
 * to look up and to insert, never while a site is resolved). */
static struct known {
    uint64_t key;
    uint32_t cell;
} sites[SITES];
static int nsites;
static _Atomic int lock;

static void lock_take(void)
{
    while (atomic_exchange_explicit(&lock, 1, memory_order_acquire))
        sched_yield();
}
static void lock_drop(void) { atomic_store_explicit(&lock, 0, memory_order_release); }

static int own_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t me = (uintptr_t)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < lo + ph->p_memsz) {
            own_lo = lo;
            own_hi = lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

void tg_site_init(void)
{
    tg_site_on = tg_cfg.report != TG_REPORT_OFF;
    if (!tg_site_on)
        return;
    unwind = (int (*)(void **, int))dlsym(RTLD_DEFAULT, "backtrace");
    dl_iterate_phdr(own_range, (void *)(uintptr_t)&tg_site_init);
    /* glibc loads its unwinder (libgcc_s) on the first backtrace: done now, at load, and not in the
     * middle of a create. */
    if (unwind) {
        void *warm[2];
        (void)unwind(warm, 2);
    }
    tg_pysite_init();
}

void tg_site_after_fork_child(void)
{
    atomic_store(&lock, 0);
    memset(sites, 0, sizeof sites);
    nsites = 0;
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull + (h >> 29); }

static uint32_t lookup(uint64_t key)
{
    uint32_t cell = 0;
    lock_take();
    for (unsigned i = (unsigned)key % SITES, n = 0; n < SITES && sites[i].key; i = (i + 1) % SITES, n++)
        if (sites[i].key == key) {
            cell = sites[i].cell;
            break;
        }
    lock_drop();
    return cell;
}

static void insert(uint64_t key, uint32_t cell)
{
    lock_take();
    if (nsites < SITES * 3 / 4) { /* open addressing stays short */
        unsigned i = (unsigned)key % SITES;
        while (sites[i].key && sites[i].key != key)
            i = (i + 1) % SITES;
        if (!sites[i].key)
            nsites++;
        sites[i].key = key;
        sites[i].cell = cell;
    }
    lock_drop();
}

/* The object holding an address: its path and load bias. */
struct module {
    uintptr_t pc;
    const char *name;
    uintptr_t bias;
    int found;
};

static int find_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct module *m = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && m->pc >= lo && m->pc < lo + ph->p_memsz) {
            m->name = info->dlpi_name;
            m->bias = info->dlpi_addr;
            m->found = 1;
            return 1;
        }
    }
    return 0;
}

/* One native frame as site text: "module\t0xOFFSET\tfunction\n" (recfmt.h). */
static void describe(struct tg_buf *b, uintptr_t pc)
{
    struct module m = {pc, NULL, 0, 0};
    char exe[TG_PATH_MAX], fn[256];
    dl_iterate_phdr(find_module, &m);
    const char *path = m.name;
    if (m.found && (!path || !path[0])) { /* the program itself */
        long n = tg_readlinkat(AT_FDCWD, "/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        path = exe;
    }
    tg_buf_str(b, path ? path : "");
    tg_buf_str(b, "\t");
    tg_buf_hex(b, pc - m.bias);
    tg_buf_str(b, "\t");
    /* A return address is just past its call: the call itself is one byte before. */
    if (m.found && path[0] && tg_elf_function(path, pc - m.bias - 1, fn, sizeof fn))
        tg_buf_str(b, fn);
    tg_buf_str(b, "\n");
}

uint32_t tg_site_capture(const char *abs, size_t len, void *caller)
{
    struct tg_rec_site head;
    char text[TG_SITE_TEXT_MAX];
    const char *slash = memrchr(abs, '/', len), *name = slash ? slash + 1 : abs;
    int nframes = 0;
    size_t tlen = tg_pysite_take(name, len - (size_t)(name - abs), text, sizeof text, &nframes);
    /* A native site is known by its call alone (the return address into the program): once seen,
     * it costs a lookup, and the unwinding (thousands of instructions a frame) happens once. */
    uint64_t key = 0xcbf29ce484222325ull;
    if (tlen) {
        for (size_t i = 0; i < tlen; i++)
            key = mix(key, (unsigned char)text[i]);
    } else {
        key = mix(key, (uint64_t)(uintptr_t)caller);
    }
    key |= 1; /* never 0: 0 marks a free slot */
    uint32_t cell = lookup(key);
    if (cell)
        return cell;
    memset(&head, 0, sizeof head);
    if (tlen) {
        head.lang = 'p';
    } else {
        void *pcs[UNWIND_FRAMES];
        int n = unwind ? unwind(pcs, UNWIND_FRAMES) : 0, k = 0;
        head.lang = 'n';
        /* The shim's own frames first, then the program's, from the call itself (where the
         * unwinder finds none, as under musl, the call alone). */
        while (k < n && (uintptr_t)pcs[k] >= own_lo && (uintptr_t)pcs[k] < own_hi)
            k++;
        if (k >= n || pcs[k] != caller) {
            pcs[0] = caller;
            k = 0;
            n = 1;
        }
        for (; k < n && nframes < NATIVE_FRAMES; k++)
            head.pc[nframes++] = (uint64_t)(uintptr_t)pcs[k];
        struct tg_buf b;
        tg_buf_init(&b, text, sizeof text - 1);
        for (int i = 0; i < nframes; i++) {
            size_t before = b.len;
            describe(&b, (uintptr_t)head.pc[i]);
            if (b.cut) { /* a frame cut in the middle is dropped whole */
                b.len = before;
                nframes = i;
                break;
            }
        }
        tlen = b.len;
    }
    head.nframes = (uint8_t)nframes;
    cell = nframes ? tg_reg_add_site(&head, text, tlen) : 0;
    if (cell)
        insert(key, cell);
    return cell;
}
