/* example.c - a small C consumer of an installed PyHeapNative, built by
 * native-tests/consumers/run.sh four ways: pkg-config (shared and --static) and CMake
 * find_package(PyHeapNative) (PyHeapNative::pyheapnative and ::pyheapnative_static).
 *
 * It allocates through pymalloc (the OBJ domain), defines a GC type by its reference layout
 * (the library then traverses, clears and frees instances itself), makes a cycle of two
 * objects, drops it and checks that phn_gc_collect finds both. On success it prints
 *
 *     pyheapnative example <version>: obj block ok, cycle collected: 2 objects
 *
 * and exits 0; otherwise it says what went wrong on stderr and exits 1. */
#include <pyheapnative.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef struct pair {
    phn_object ob;
    phn_object* other;   /* a strong reference, described by the layout */
    int64_t value;
} pair;

static int fail(const char* what) {
    fprintf(stderr, "example: %s: %s\n", what, phn_last_error_message());
    return 1;
}

int main(void) {
    uint32_t v = phn_version();
    if (v != PHN_VERSION) {
        fprintf(stderr, "example: header %d, library %u\n", PHN_VERSION, (unsigned)v);
        return 1;
    }

    /* pymalloc: a 64-byte block from the OBJ domain */
    char* block = phn_obj_malloc(64);
    if (block == NULL) return fail("phn_obj_malloc");
    memset(block, 0x5a, 64);
    phn_obj_free(block);

    /* a GC type whose one reference is the field 'other' */
    static const uint32_t refs[] = { offsetof(pair, other) };
    phn_type_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.struct_size = sizeof spec;
    spec.flags = PHN_TPFLAGS_HAVE_GC;
    spec.name = "pair";
    spec.basicsize = sizeof(pair);
    spec.ref_offsets = refs;
    spec.ref_count = 1;
    phn_type* type = phn_type_new(&spec);
    if (type == NULL) return fail("phn_type_new");

    if (phn_gc_collect(2) < 0) return fail("phn_gc_collect");   /* start from no garbage */

    pair* a = (pair*)phn_object_new(type);
    pair* b = (pair*)phn_object_new(type);
    if (a == NULL || b == NULL) return fail("phn_object_new");
    a->other = phn_new_ref(&b->ob);   /* a -> b -> a */
    b->other = phn_new_ref(&a->ob);
    PHN_DECREF(a);                    /* unreachable now, but the counts are 1 */
    PHN_DECREF(b);

    int64_t collected = phn_gc_collect(2);
    if (collected != 2) {
        fprintf(stderr, "example: phn_gc_collect(2) returned %lld, expected 2 (%s)\n",
                (long long)collected, phn_last_error_message());
        return 1;
    }
    printf("pyheapnative example %u.%u.%u: obj block ok, cycle collected: %lld objects\n",
           (unsigned)(v / 10000), (unsigned)(v / 100 % 100), (unsigned)(v % 100), (long long)collected);
    return 0;
}
