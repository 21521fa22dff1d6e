/* test_stats.c - statistics: phn_get_stats, phn_format_malloc_stats (the text of CPython's
 * sys._debugmallocstats(), pymalloc part), phn_validate, PYHEAPNATIVE_MALLOCSTATS:
 * spec-allocator.md §2.9 and §7 items 27, 28, 39.
 *
 *   27  first line, header lines, rows "%5u %6u %11zu %15zu %13zu", value lines (35-column
 *       label, '=', 21-column comma-grouped number), the six bytes lines sum to
 *       narenas * 1048576: checked on the parsed text and on the struct; the whole text is
 *       also rebuilt from the struct with CPython's algorithm and compared byte for byte
 *   28  arena map root / mid / bot: 262,144 / 262,144 / 131,072 bytes per node
 *   39  PYHEAPNATIVE_MALLOCSTATS=1 (child process): one stats block on stderr before each
 *       new arena and one at exit
 *   snprintf semantics of phn_format_malloc_stats; phn_get_stats struct_size checks; the
 *   counts after a known allocation pattern; phn_validate() == 0
 */
#include "testhelper.h"
#include "phn_test_common.h"

/* ------------------------------------------------------------------ a string builder */
typedef struct sbuf {
    char* s;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf* b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf* b, const char* fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) buf_append(&b->s, &b->len, &b->cap, tmp, (size_t)n);
}

/* CPython's printone(): label padded to 35 columns, '=', value with ',' separators
 * right-aligned in 21 columns, newline. */
static uint64_t printone(sbuf* b, const char* msg, uint64_t value) {
    char num[32], digits[32];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    size_t nd = strlen(digits), o = 0;
    for (size_t i = 0; i < nd; i++) {
        if (i && (nd - i) % 3 == 0) num[o++] = ',';
        num[o++] = digits[i];
    }
    num[o] = 0;
    sb_add(b, "%-35s=%21s\n", msg, num);
    return value;
}

/* The text CPython's _PyObject_DebugMallocStats prints for these numbers. */
static char* expected_text(const phn_stats* s) {
    sbuf b = {0, 0, 0};
    char label[128];
    sb_add(&b, "Small block threshold = %d, in %u size classes.\n", 512, 32u);
    sb_add(&b, "\n");
    sb_add(&b, "class   size   num pools   blocks in use  avail blocks\n"
               "-----   ----   ---------   -------------  ------------\n");
    for (unsigned i = 0; i < 32; i++) {
        const phn_size_class_stats* c = &s->size_classes[i];
        if (c->pools == 0) continue;
        sb_add(&b, "%5u %6u %11zu %15zu %13zu\n", i, (i + 1) * 16, (size_t)c->pools, (size_t)c->blocks_in_use,
               (size_t)c->blocks_available);
    }
    sb_add(&b, "\n");
    printone(&b, "# arenas allocated total", s->arenas_allocated_total);
    printone(&b, "# arenas reclaimed", s->arenas_allocated_total - s->arenas_allocated_current);
    printone(&b, "# arenas highwater mark", s->arenas_highwater);
    printone(&b, "# arenas allocated current", s->arenas_allocated_current);
    snprintf(label, sizeof label, "%zu arenas * %d bytes/arena", (size_t)s->arenas_allocated_current, 1048576);
    printone(&b, label, s->arenas_allocated_current * 1048576);
    sb_add(&b, "\n");
    uint64_t total = printone(&b, "# bytes in allocated blocks", s->bytes_in_allocated_blocks);
    total += printone(&b, "# bytes in available blocks", s->bytes_in_available_blocks);
    snprintf(label, sizeof label, "%u unused pools * %d bytes", (unsigned)s->unused_pools, 16384);
    total += printone(&b, label, s->unused_pools * 16384);
    total += printone(&b, "# bytes lost to pool headers", s->bytes_lost_to_pool_headers);
    total += printone(&b, "# bytes lost to quantization", s->bytes_lost_to_quantization);
    total += printone(&b, "# bytes lost to arena alignment", s->bytes_lost_to_arena_alignment);
    printone(&b, "Total", total);
    sb_add(&b, "\narena map counts\n");
    printone(&b, "# arena map mid nodes", s->arena_map_mid_nodes);
    printone(&b, "# arena map bot nodes", s->arena_map_bot_nodes);
    sb_add(&b, "\n");
    total = printone(&b, "# bytes lost to arena map root", 262144);
    total += printone(&b, "# bytes lost to arena map mid", 262144 * s->arena_map_mid_nodes);
    total += printone(&b, "# bytes lost to arena map bot", 131072 * s->arena_map_bot_nodes);
    printone(&b, "Total", total);
    return b.s;
}

static char* get_text(int64_t* len) {
    int64_t n = phn_format_malloc_stats(NULL, 0);
    *len = n;
    if (n <= 0) return NULL;
    char* t = (char*)malloc((size_t)n + 1);
    if (!t) return NULL;
    int64_t m = phn_format_malloc_stats(t, (size_t)n + 1);
    if (m != n) {
        free(t);
        *len = -1;
        return NULL;
    }
    return t;
}

/* Split text into lines (in place); returns the number of lines. */
static int split_lines(char* t, char** lines, int max) {
    int n = 0;
    char* p = t;
    while (*p && n < max) {
        lines[n++] = p;
        char* nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    return n;
}

/* A value line: label (<= 35 columns, right-padded), '=', comma-grouped number in 21
 * columns. Returns 1 and the label/value if the line has exactly that shape. */
static int parse_value_line(const char* line, char* label, size_t lcap, uint64_t* value) {
    if (strlen(line) != 57 || line[35] != '=') return 0;
    size_t l = 35;
    while (l > 0 && line[l - 1] == ' ') l--;
    if (l == 0 || l >= lcap) return 0;
    memcpy(label, line, l);
    label[l] = 0;
    const char* f = line + 36;
    size_t i = 0;
    while (i < 21 && f[i] == ' ') i++;
    if (i == 21) return 0;
    /* digits in groups: first group 1-3 digits, then ",ddd" groups */
    const char* num = f + i;
    size_t nlen = 21 - i;
    uint64_t v = 0;
    size_t digits_in_group = 0, groups = 0;
    for (size_t k = 0; k < nlen; k++) {
        char ch = num[k];
        if (ch == ',') {
            if (digits_in_group == 0 || (groups == 0 && digits_in_group > 3) || (groups > 0 && digits_in_group != 3)) return 0;
            groups++;
            digits_in_group = 0;
        } else if (ch >= '0' && ch <= '9') {
            v = v * 10 + (uint64_t)(ch - '0');
            digits_in_group++;
        } else {
            return 0;
        }
    }
    if (digits_in_group == 0 || (groups > 0 && digits_in_group != 3) || (groups == 0 && digits_in_group > 3)) return 0;
    *value = v;
    return 1;
}

static int find_value(char** lines, int n, int from, const char* label, uint64_t* v) {
    char lb[64];
    for (int i = from; i < n; i++)
        if (parse_value_line(lines[i], lb, sizeof lb, v) && strcmp(lb, label) == 0) return i;
    return -1;
}

static void test_text_format(void) {
    /* a few classes in use */
    static void* v[3000];
    for (int i = 0; i < 3000; i++) v[i] = phn_obj_malloc((size_t)(1 + (i * 31) % 512));
    phn_stats s = stats_now();
    int64_t len = 0;
    char* text = get_text(&len);
    char* want = expected_text(&s);
    CHECK_BODY("phn_format_malloc_stats(NULL, 0) > 0 and a second call fills len bytes") { result = text != NULL && len > 0 && (int64_t)strlen(text) == len; }
    if (!text) return;
    CHECK_BODY("the text equals CPython's dump rebuilt from phn_get_stats numbers, byte for byte (items 27, 28)") {
        result = want && strcmp(text, want) == 0;
        if (!result && want) {
            /* first differing line */
            const char *a = text, *b = want;
            int line = 1;
            while (*a && *a == *b) {
                if (*a == '\n') line++;
                a++;
                b++;
            }
            const char* la = a;
            while (la > text && la[-1] != '\n') la--;
            const char* lb = b;
            while (lb > want && lb[-1] != '\n') lb--;
            fprintf(stderr, "\n  line %d differs:\n   got:  %.*s\n   want: %.*s\n", line, (int)strcspn(la, "\n"), la,
                    (int)strcspn(lb, "\n"), lb);
        }
    }
    char* copy = strdup(text);
    static char* lines[512];
    int n = split_lines(copy, lines, 512);
    CHECK_BODY("first line: \"Small block threshold = 512, in 32 size classes.\" (item 27)") {
        result = n > 0 && strcmp(lines[0], "Small block threshold = 512, in 32 size classes.") == 0;
    }
    CHECK_BODY("then a blank line and the two header lines (item 27)") {
        result = n > 3 && strcmp(lines[1], "") == 0 &&
                 strcmp(lines[2], "class   size   num pools   blocks in use  avail blocks") == 0 &&
                 strcmp(lines[3], "-----   ----   ---------   -------------  ------------") == 0;
    }
    int i = 4, rows_ok = 1, nrows = 0;
    unsigned last_class = 0;
    for (; i < n && lines[i][0] != 0; i++) {
        unsigned cls, size;
        size_t pools, inuse, avail;
        char again[128];
        if (sscanf(lines[i], "%u %u %zu %zu %zu", &cls, &size, &pools, &inuse, &avail) != 5) { rows_ok = 0; break; }
        snprintf(again, sizeof again, "%5u %6u %11zu %15zu %13zu", cls, size, pools, inuse, avail);
        if (strcmp(again, lines[i]) != 0 || cls >= 32 || size != (cls + 1) * 16 || (nrows && cls <= last_class) ||
            pools != s.size_classes[cls].pools || inuse != s.size_classes[cls].blocks_in_use ||
            avail != s.size_classes[cls].blocks_available || pools == 0 ||
            inuse + avail != pools * (16336 / size)) {
            fprintf(stderr, "\n  bad row: \"%s\"\n", lines[i]);
            rows_ok = 0;
        }
        last_class = cls;
        nrows++;
    }
    int classes_in_use = 0;
    for (int k = 0; k < 32; k++) classes_in_use += s.size_classes[k].pools > 0;
    CHECK_BODY("rows: \"%5u %6u %11zu %15zu %13zu\", one per class with a used pool, ascending, matching the struct (item 27)") {
        result = rows_ok && nrows == classes_in_use && nrows >= 30;
    }
    int vstart = i + 1;
    int bad_value_lines = 0, value_lines = 0;
    for (int k = vstart; k < n; k++) {
        char lb[64];
        uint64_t val;
        if (lines[k][0] == 0 || strcmp(lines[k], "arena map counts") == 0) continue;
        if (!parse_value_line(lines[k], lb, sizeof lb, &val)) {
            fprintf(stderr, "\n  not a value line: \"%s\"\n", lines[k]);
            bad_value_lines++;
        }
        value_lines++;
    }
    CHECK_BODY("every other non-blank line is a value line: 35-column label, '=', 21-column comma-grouped value (item 27)") {
        result = bad_value_lines == 0 && value_lines == 5 + 7 + 2 + 4;
    }
    uint64_t total_arenas = 0, reclaimed = 0, highwater = 0, current = 0, narena_bytes = 0;
    uint64_t b[6] = {0}, btotal = 0, unused_n = 0;
    char label[64];
    int ok1 = find_value(lines, n, vstart, "# arenas allocated total", &total_arenas) >= 0 &&
              find_value(lines, n, vstart, "# arenas reclaimed", &reclaimed) >= 0 &&
              find_value(lines, n, vstart, "# arenas highwater mark", &highwater) >= 0 &&
              find_value(lines, n, vstart, "# arenas allocated current", &current) >= 0;
    snprintf(label, sizeof label, "%llu arenas * 1048576 bytes/arena", (unsigned long long)current);
    int ok2 = find_value(lines, n, vstart, label, &narena_bytes) >= 0;
    int tl = find_value(lines, n, vstart, "# bytes in allocated blocks", &b[0]);
    int ok3 = tl >= 0 && find_value(lines, n, vstart, "# bytes in available blocks", &b[1]) >= 0 &&
              find_value(lines, n, vstart, "# bytes lost to pool headers", &b[3]) >= 0 &&
              find_value(lines, n, vstart, "# bytes lost to quantization", &b[4]) >= 0 &&
              find_value(lines, n, vstart, "# bytes lost to arena alignment", &b[5]) >= 0 &&
              find_value(lines, n, tl, "Total", &btotal) >= 0;
    int ok4 = 0;
    for (int k = vstart; k < n; k++) {
        char lb[64];
        uint64_t val;
        unsigned cnt;
        int used = 0;
        if (parse_value_line(lines[k], lb, sizeof lb, &val) && sscanf(lb, "%u unused pools * 16384 bytes%n", &cnt, &used) == 1 &&
            lb[used] == 0) {
            unused_n = cnt;
            b[2] = val;
            ok4 = 1;
        }
    }
    CHECK_BODY("arena lines: total, reclaimed = total - current, highwater, current, \"N arenas * 1048576 bytes/arena\" (item 27)") {
        result = ok1 && ok2 && total_arenas == s.arenas_allocated_total && current == s.arenas_allocated_current &&
                 reclaimed == total_arenas - current && highwater == s.arenas_highwater && narena_bytes == current * 1048576;
    }
    CHECK_BODY("the six bytes lines of the text add up to Total = narenas * 1048576 (item 27)") {
        uint64_t sum = b[0] + b[1] + b[2] + b[3] + b[4] + b[5];
        result = ok3 && ok4 && b[2] == unused_n * 16384 && sum == btotal && sum == current * 1048576 && current > 0;
    }
    CHECK_BODY("the six bytes fields of the struct add up to arenas_allocated_current * arena_size (item 27)") {
        result = s.bytes_in_allocated_blocks + s.bytes_in_available_blocks + s.bytes_in_unused_pools +
                     s.bytes_lost_to_pool_headers + s.bytes_lost_to_quantization + s.bytes_lost_to_arena_alignment ==
                 s.arenas_allocated_current * s.arena_size;
    }
    uint64_t mid_n = 0, bot_n = 0, root_b = 0, mid_b = 0, bot_b = 0, map_total = 0;
    int am = -1;
    for (int k = vstart; k < n; k++)
        if (strcmp(lines[k], "arena map counts") == 0) am = k;
    int ok5 = am > 0 && find_value(lines, n, am, "# arena map mid nodes", &mid_n) >= 0 &&
              find_value(lines, n, am, "# arena map bot nodes", &bot_n) >= 0 &&
              find_value(lines, n, am, "# bytes lost to arena map root", &root_b) >= 0 &&
              find_value(lines, n, am, "# bytes lost to arena map mid", &mid_b) >= 0 &&
              find_value(lines, n, am, "# bytes lost to arena map bot", &bot_b) >= 0 &&
              find_value(lines, n, am + 4, "Total", &map_total) >= 0;
    CHECK_BODY("radix tree section: root 262,144 bytes, 262,144 per mid node, 131,072 per bot node, Total (item 28)") {
        result = ok5 && root_b == 262144 && mid_b == 262144 * mid_n && bot_b == 131072 * bot_n &&
                 map_total == root_b + mid_b + bot_b && mid_n >= 1 && bot_n >= 1 && strstr(text, "=              262,144\n") &&
                 lines[am - 1][0] == 0;
    }
    CHECK_BODY("struct: arena map nodes and bytes as in the text (item 28)") {
        result = s.arena_map_mid_nodes == mid_n && s.arena_map_bot_nodes == bot_n && s.bytes_lost_to_arena_map_root == 262144 &&
                 s.bytes_lost_to_arena_map_mid == 262144 * mid_n && s.bytes_lost_to_arena_map_bot == 131072 * bot_n;
    }
    CHECK_BODY("the text ends with the radix tree Total line") {
        result = len > 0 && text[len - 1] == '\n' && strncmp(lines[n - 1], "Total", 5) == 0;
    }
    free(copy);
    free(want);
    free(text);
    for (int k = 0; k < 3000; k++) phn_obj_free(v[k]);
}

static void test_snprintf_semantics(void) {
    int64_t n = phn_format_malloc_stats(NULL, 0);
    char* full = (char*)malloc((size_t)(n > 0 ? n : 0) + 64);
    CHECK_BODY("phn_format_malloc_stats(NULL, 0) returns the length, > 100") { result = n > 100 && full != NULL; }
    if (n <= 0 || !full) { free(full); return; }
    memset(full, 'Z', (size_t)n + 64);
    CHECK_BODY("cap = len + 1: returns len, writes len bytes and a NUL, nothing after") {
        int64_t m = phn_format_malloc_stats(full, (size_t)n + 1);
        result = m == n && full[n] == 0 && (int64_t)strlen(full) == n && full[n + 1] == 'Z';
    }
    CHECK_BODY("cap = 10: returns the full length; 9 bytes + NUL written, the rest untouched") {
        char buf[64];
        memset(buf, 'Z', sizeof buf);
        int64_t m = phn_format_malloc_stats(buf, 10);
        result = m == n && buf[9] == 0 && memcmp(buf, full, 9) == 0 && buf[10] == 'Z' && buf[63] == 'Z';
    }
    CHECK_BODY("cap = len: truncated by one byte, NUL-terminated, returns len") {
        char* buf = (char*)malloc((size_t)n + 8);
        result = buf != NULL;
        if (buf) {
            memset(buf, 'Z', (size_t)n + 8);
            int64_t m = phn_format_malloc_stats(buf, (size_t)n);
            result = m == n && buf[n - 1] == 0 && (int64_t)strlen(buf) == n - 1 && memcmp(buf, full, (size_t)n - 1) == 0 &&
                     buf[n] == 'Z';
            free(buf);
        }
    }
    CHECK_BODY("cap = 1: only a NUL is written, returns len") {
        char buf[8];
        memset(buf, 'Z', sizeof buf);
        int64_t m = phn_format_malloc_stats(buf, 1);
        result = m == n && buf[0] == 0 && buf[1] == 'Z';
    }
    CHECK_BODY("non-NULL buffer, cap = 0: nothing written, returns len") {
        char buf[8];
        memset(buf, 'Z', sizeof buf);
        int64_t m = phn_format_malloc_stats(buf, 0);
        result = m == n && buf[0] == 'Z';
    }
    free(full);
}

static void test_get_stats_args(void) {
    CHECK_BODY("phn_get_stats(NULL) == PHN_EINVAL") { result = phn_get_stats(NULL) == PHN_EINVAL; }
    static const uint32_t small[] = {0, 4, 8, 16, 100, (uint32_t)sizeof(phn_stats) - 8, (uint32_t)sizeof(phn_stats) - 1};
    CHECK_BODY("phn_get_stats with struct_size smaller than sizeof(phn_stats) == PHN_EINVAL, message set") {
        result = true;
        for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
            phn_stats s;
            memset(&s, 0x5A, sizeof s);
            s.struct_size = small[i];
            phn_clear_error();
            int32_t rc = phn_get_stats(&s);
            if (rc != PHN_EINVAL || phn_last_error_code() != PHN_EINVAL || phn_last_error_message()[0] == 0) {
                fprintf(stderr, "\n  struct_size %u: rc %d\n", small[i], rc);
                result = false;
            }
        }
    }
    CHECK_BODY("phn_get_stats with struct_size = sizeof(phn_stats): PHN_OK, version 1, 32 classes") {
        phn_stats s;
        memset(&s, 0x5A, sizeof s);
        s.struct_size = sizeof s;
        result = phn_get_stats(&s) == PHN_OK && s.version == PHN_STATS_VERSION && s.num_size_classes == 32 &&
                 s.arena_size == PHN_ARENA_SIZE && s.pool_size == PHN_POOL_SIZE && stats_consistent(&s);
    }
    CHECK_BODY("phn_get_stats with a larger struct_size (a newer caller): PHN_OK, bytes past phn_stats untouched") {
        struct {
            phn_stats s;
            unsigned char tail[64];
        } big;
        memset(&big, 0x5A, sizeof big);
        big.s.struct_size = (uint32_t)sizeof big;
        result = phn_get_stats(&big.s) == PHN_OK && big.s.version == PHN_STATS_VERSION && stats_consistent(&big.s);
        for (size_t i = 0; i < sizeof big.tail; i++)
            if (big.tail[i] != 0x5A) result = false;
    }
}

static void test_known_pattern(void) {
    static void* v[1000];
    phn_stats s0 = stats_now();
    for (int i = 0; i < 1000; i++) v[i] = phn_obj_malloc(48);
    phn_stats s1 = stats_now();
    uintptr_t pools[16];
    int np = 0;
    for (int i = 0; i < 1000; i++) {
        if (!v[i]) continue;
        int j = 0;
        while (j < np && pools[j] != pool_of(v[i])) j++;
        if (j == np && np < 16) pools[np++] = pool_of(v[i]);
    }
    CHECK_BODY("1000 x malloc(48): class 2 blocks_in_use +1000 exactly, other classes unchanged") {
        result = s1.size_classes[2].blocks_in_use == s0.size_classes[2].blocks_in_use + 1000;
        for (int k = 0; k < 32; k++)
            if (k != 2 && s1.size_classes[k].blocks_in_use != s0.size_classes[k].blocks_in_use) result = false;
    }
    CHECK_BODY("... allocated_blocks +1000, bytes in allocated blocks +48000, raw blocks unchanged") {
        result = s1.allocated_blocks == s0.allocated_blocks + 1000 &&
                 s1.bytes_in_allocated_blocks == s0.bytes_in_allocated_blocks + 48000 &&
                 s1.raw_allocated_blocks == s0.raw_allocated_blocks;
    }
    CHECK_BODY("... class 2 pools grow by the number of new pools the blocks occupy (340 per pool)") {
        uint64_t d = s1.size_classes[2].pools - s0.size_classes[2].pools;
        result = np >= 3 && np <= 4 && (d == (uint64_t)np || d == (uint64_t)np - 1) && s1.size_classes[2].blocks_per_pool == 340 &&
                 stats_consistent(&s1);
    }
    for (int i = 0; i < 1000; i++) phn_obj_free(v[i]);
    phn_stats s2 = stats_now();
    CHECK_BODY("freeing them restores class 2 blocks_in_use, allocated_blocks and allocated bytes exactly") {
        result = s2.size_classes[2].blocks_in_use == s0.size_classes[2].blocks_in_use && s2.allocated_blocks == s0.allocated_blocks &&
                 s2.bytes_in_allocated_blocks == s0.bytes_in_allocated_blocks && stats_consistent(&s2);
    }
    CHECK_BODY("100 x malloc(1000) (RAW): raw_allocated_blocks and allocated_blocks +100, pymalloc bytes unchanged") {
        static void* w[100];
        phn_stats a = stats_now();
        for (int i = 0; i < 100; i++) w[i] = phn_mem_malloc(1000);
        phn_stats b = stats_now();
        result = b.raw_allocated_blocks == a.raw_allocated_blocks + 100 && b.allocated_blocks == a.allocated_blocks + 100 &&
                 b.bytes_in_allocated_blocks == a.bytes_in_allocated_blocks;
        for (int i = 0; i < 100; i++) phn_mem_free(w[i]);
    }
    CHECK("phn_validate() == 0", phn_validate() == 0);
}

/* ------------------------------------------------------------------ PYHEAPNATIVE_MALLOCSTATS */
static int child_mallocstats(const char* arg) {
    int k = arg ? atoi(arg) : 0;
    phn_stats s = stats_now();
    uint64_t t0 = s.arenas_allocated_total;
    size_t n = 0;
    while (s.arenas_allocated_total < t0 + (uint64_t)k && n < 100000) {
        if (!phn_obj_malloc(512)) break;  /* kept until exit */
        n++;
        s = stats_now();
    }
    printf("total=%llu new=%llu\n", (unsigned long long)s.arenas_allocated_total, (unsigned long long)(s.arenas_allocated_total - t0));
    fflush(stdout);
    return 0;  /* exit() runs the at-exit dump */
}

static void test_mallocstats_env(void) {
    const int K = 3;
    const char* env1[] = {"PYHEAPNATIVE_MALLOCSTATS=1", NULL};
    child_result r;
    run_self("--child-mallocstats", "3", env1, &r);
    unsigned long long total = 0, nw = 0;
    const char* t = r.out ? strstr(r.out, "total=") : NULL;
    int parsed = t && sscanf(t, "total=%llu new=%llu", &total, &nw) == 2;
    int blocks = count_occurrences(r.err, "Small block threshold = 512, in 32 size classes.\n");
    CHECK_BODY("PYHEAPNATIVE_MALLOCSTATS=1: the child allocating 3 new arenas exits 0") {
        result = r.exited && r.exit_code == 0 && parsed && nw == (unsigned long long)K;
        if (!result) { describe_child(&r); echo_prefixed("out", r.out); }
    }
    CHECK_BODY("... stderr has one stats block before each new arena and one at exit (item 39)") {
        result = parsed && (unsigned long long)blocks == total + 1;
        if (!result) fprintf(stderr, "\n  %d blocks for %llu arenas\n", blocks, total);
    }
    CHECK_BODY("... the blocks show \"# arenas allocated total\" 0, 1, ..., N-1 (before each arena), then N (at exit)") {
        result = parsed && blocks > 0;
        const char* p = r.err;
        unsigned long long i = 0;
        while (p && (p = strstr(p, "# arenas allocated total")) != NULL) {
            const char* eq = strchr(p, '=');
            unsigned long long v = 0;
            for (const char* q = eq ? eq + 1 : p; *q && *q != '\n'; q++)
                if (*q >= '0' && *q <= '9') v = v * 10 + (unsigned long long)(*q - '0');
            unsigned long long want = i < total ? i : total;
            if (v != want) {
                if (result) fprintf(stderr, "\n  block %llu shows %llu arenas, expected %llu\n", i, v, want);
                result = false;
            }
            i++;
            p++;
        }
        result = result && i == total + 1;
    }
    CHECK_BODY("... every block is complete (ends with the arena map section)") {
        result = count_occurrences(r.err, "# bytes lost to arena map bot") == blocks &&
                 count_occurrences(r.err, "class   size   num pools   blocks in use  avail blocks\n") == blocks;
    }
    child_result_free(&r);

    const char* env0[] = {"PYHEAPNATIVE_MALLOCSTATS=", NULL};
    run_self("--child-mallocstats", "2", NULL, &r);
    CHECK_BODY("PYHEAPNATIVE_MALLOCSTATS unset: no stats on stderr") {
        result = r.exited && r.exit_code == 0 && r.err && strstr(r.err, "Small block threshold") == NULL;
    }
    child_result_free(&r);
    run_self("--child-mallocstats", "2", env0, &r);
    CHECK_BODY("PYHEAPNATIVE_MALLOCSTATS empty: no stats on stderr (as PYTHONMALLOCSTATS)") {
        result = r.exited && r.exit_code == 0 && r.err && strstr(r.err, "Small block threshold") == NULL;
    }
    child_result_free(&r);
}

int main(int argc, char** argv) {
    alarm(120);
    if (argc > 1 && strcmp(argv[1], "--child-mallocstats") == 0) return child_mallocstats(argc > 2 ? argv[2] : NULL);

    CHECK("phn_validate() == 0 at start", phn_validate() == 0);
    test_get_stats_args();
    test_text_format();
    test_snprintf_semantics();
    test_known_pattern();
    test_mallocstats_env();
    CHECK_BODY("final stats consistent, phn_validate() == 0") {
        phn_stats s = stats_now();
        result = stats_consistent(&s) && phn_validate() == 0;
    }
    return print_test_summary();
}
