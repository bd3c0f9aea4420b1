/* Callgrind's client requests for Python: count only the measured calls of a row.
 * Outside valgrind each request is a few no-op instructions. */
#include <valgrind/callgrind.h>

int gb_running_on_valgrind(void) { return RUNNING_ON_VALGRIND; }

/* Start counting from zero. */
void gb_callgrind_start(void) {
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
}

/* Stop counting and write what was counted to a dump of its own, named `label`. */
void gb_callgrind_stop(const char *label) {
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(label);
}
