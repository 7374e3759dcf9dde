/* park.h: hold every other thread of this process still while code is written, then let each
 * go on where the new code says.
 *
 * The library may be loaded into a running interpreter (the pytest plugin loads it with ctypes;
 * an xdist worker then already has execnet's receiving thread, a debugger or an IDE runner has
 * threads of its own), and an interpreter with SQLite linked in has its entry points rewritten
 * then (hook.h).  Rewriting code that another thread may run is unsafe in two ways:
 *   - the write: a 5-byte jump is not stored atomically with respect to instruction fetch, so a
 *     thread could run half of it (the kernel's text_poke_bp writes an int3 first for that; one
 *     aligned 8-byte store is another answer, where the jump fits in one);
 *   - the instructions it replaces: a hook moves whole instructions, often several (`push r15;
 *     push r14` is 4 bytes, SQLite's sqlite3_step starts so), and a thread that has run the
 *     first and not yet the second resumes in the middle of the jump, in whatever order or width
 *     the bytes were stored.  Only knowing where each thread is fixes that: Detours, on Windows,
 *     suspends the threads and moves the instruction pointer of any stopped inside the moved
 *     bytes.
 * Linux has no call that suspends a thread of one's own process; a signal does it.  Each other
 * thread (listed in /proc/self/task, again until no new one appears) is sent SIGURG with tgkill,
 * whose handler, every signal blocked, waits on a futex until the code is written.  It then
 * moves the interrupted instruction pointer (the ucontext, which sigreturn restores) where
 * `move` says, and runs CPUID, the serialising instruction Intel's SDM (vol. 3A, 8.1.3,
 * "Handling Self- and Cross-Modifying Code") requires of a processor between another one's write
 * to code and its running that code.  The writing thread keeps every signal blocked meanwhile, so
 * that no handler of its own runs code half written, and serialises too.  With one thread (the
 * library preloaded: its constructor runs before main) nothing is signalled.
 *
 * SIGURG because its default action is to ignore it: a signal that arrives late (a thread that
 * did not stop in time) harms nothing; one that was not sent by this module goes to the handler
 * that was there before (called with this handler's mask).  A thread that blocks SIGURG, or does
 * not reach the handler within SHIM_PARK_WAIT_MS (uninterruptible sleep), makes the whole write
 * refused: nothing is written.  Zombie threads and io_uring workers (no user code) are skipped.
 * Between sending and release nothing here allocates or takes a lock: a stopped thread may hold
 * malloc's. */
#ifndef SHIM_PARK_H
#define SHIM_PARK_H
#include <stddef.h>
#include <stdint.h>

#define SHIM_PARK_WAIT_MS 2000 /* for all threads to stop */
#define SHIM_PARK_MAX_THREADS 4096

struct shim_park_stats {
    int threads; /* other threads held */
    int moved;   /* of them, how many went on elsewhere */
};

/* Where a thread interrupted at `pc` goes on; pc itself to stay.  Called in the signal handler
 * once `write` returned, whatever it returned (a failed write may have left code changed that it
 * could not put back): it must be async-signal-safe (arithmetic on what `write` left in arg). */
typedef uintptr_t (*shim_park_move_fn)(void *arg, uintptr_t pc);

/* Run write(arg) with every other thread of this process held (see above), then release them,
 * each moved by move(arg, pc).  write must not allocate or take locks, and keeps its own reason
 * for a failure in arg.  Returns write's result, or -1 without calling it when the threads could
 * not be held, with a one-line reason in why.  stats may be NULL. */
int shim_park_run(int (*write)(void *arg), shim_park_move_fn move, void *arg,
                  struct shim_park_stats *stats, char *why, size_t whysz);
#endif
