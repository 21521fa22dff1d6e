/* testhelper.h - a tiny test harness for the C tests (after mimalloc's testhelper.h).
 *
 *   CHECK_BODY("name") { ...; result = <condition>; }   one named check
 *   CHECK("name", condition)                             one-line check
 *   return print_test_summary();                         prints "N passed, N failed"
 */
#ifndef PHN_TESTHELPER_H
#define PHN_TESTHELPER_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static int ok = 0;
static int failed = 0;

static bool check_result(bool result, const char* testname, const char* fname, long lineno) {
    if (!result) {
        failed++;
        fprintf(stderr, "\n  FAILED: %s: %s:%ld\n", testname, fname, lineno);
    } else {
        ok++;
        fprintf(stderr, ".");
    }
    return result;
}

#define CHECK_BODY(name) \
    fprintf(stderr, "test: %s...  ", name); errno = 0; \
    for (bool done = false, result = true; !done; done = check_result(result, name, __FILE__, __LINE__) || true)

#define CHECK(name, expr) CHECK_BODY(name) { result = (expr); }

static int print_test_summary(void) {
    fprintf(stderr, "\n");
    printf("%d passed, %d failed\n", ok, failed);
    fflush(stdout);
    return failed == 0 ? 0 : 1;
}

#endif
