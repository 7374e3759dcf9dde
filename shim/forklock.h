/* forklock.h: the shim's mutexes, and what fork does with them (the cwrap way).
 *
 * fork() copies one thread.  A mutex another thread held at that moment stays held in the child
 * for ever, and the data it guards may be half-updated.  So, as cwrap's socket_wrapper does,
 * pthread_atfork handlers take every lock before fork (prepare) and release them after it, in the
 * parent and in the child, which then forgets the parent's state anyway (init.c).
 *
 * Unlike cwrap, prepare waits a bounded time: the thread holding a shim lock may itself be
 * waiting for the GIL, which the forking Python thread holds (a trace callback of the
 * application's connection can run inside the controller's journal replay), and an unbounded
 * wait would hang the fork.  After the bound, fork goes on without that lock; the child
 * re-initialises it (its holder does not exist there), and forgets what it guarded. */
#ifndef SHIM_FORKLOCK_H
#define SHIM_FORKLOCK_H
#include <pthread.h>

struct shim_forklock {
    pthread_mutex_t m;
    int taken; /* prepare took it: the parent handler releases it */
};
#define SHIM_FORKLOCK_INIT {PTHREAD_MUTEX_INITIALIZER, 0}

/* The locks, in the order prepare takes them (the order the code nests them), and the wait per
 * lock.  Set once, in the constructor. */
void shim_forklock_register(struct shim_forklock *const *locks, int n, long bound_ms);
void shim_forklock_prepare(void);
void shim_forklock_parent(void);
void shim_forklock_child(void);
#endif
