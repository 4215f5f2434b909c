package store

// SQLite allocates its page caches and statements with the C library's malloc, from whichever
// thread a cgo call runs on, and glibc gives threads their own arenas (up to eight per core),
// each keeping what was freed in it: measured, the resident memory after 100,000 orders grew by
// tens of MiB that no cache held (`make bench`'s memory row). Two arenas are enough for one
// writer and a few readers. Linux only (the file's name says so); where the C library knows no
// M_ARENA_MAX (musl) it does nothing.

/*
#include <malloc.h>
static void limitArenas(void) {
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, 2);
#endif
}
*/
import "C"

func init() { C.limitArenas() }
