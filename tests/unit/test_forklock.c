/* test_forklock: fork while another thread holds each of the shim's locks (forklock.h).
 *
 * The library's constructor (init.c, linked in) registers the handlers over its four locks.
 * For each lock: a thread takes it and holds it a while; the main thread forks meanwhile.
 *   - held briefly: fork waits until the holder is done (prepare took the lock), so the child
 *     never copies a half-updated structure; the child can take the lock; the parent's lock
 *     works afterwards (released once, by its holder);
 *   - held past the bound: fork goes on after the bound (nothing hangs), the child can take
 *     the lock all the same, and the parent handler does not release what it never took. */
#include "conn.h"
#include "controller.h"
#include "real.h"
#include "role.h"
#include "unit.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* The child leaves by the system call itself: TSan's exit checks would report the parent's
 * holder thread, which its bookkeeping copies into the child, as the child's leak. */
static void child_exit(int code)
{
    syscall(SYS_exit_group, code);
}

struct holder {
    struct shim_forklock *lock;
    long hold_ms;
    atomic_int holding;
    long long released_at; /* unit_now_us() just before the unlock */
};

static void *hold(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(&h->lock->m);
    h->holding = 1;
    unit_sleep_ms(h->hold_ms);
    h->holding = 0;
    h->released_at = unit_now_us();
    pthread_mutex_unlock(&h->lock->m);
    return NULL;
}

/* Fork while `lock` is held for hold_ms; the child exits 0 if it can take the lock at once.
 * Returns how long fork() took in the parent, in ms, or -1; *after_release: whether fork()
 * returned after the holder let go of the lock (judged by the clock, not by a duration, which a
 * stall of this thread between seeing the lock held and calling fork() would shorten). */
static long fork_while_held(struct shim_forklock *lock, long hold_ms, int *child_ok,
                            int *after_release)
{
    struct holder h = {lock, hold_ms, 0, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, hold, &h) != 0)
        return -1;
    while (!h.holding)
        unit_sleep_ms(1);
    long long t0 = unit_now_us();
    pid_t pid = fork();
    if (pid == 0)
        child_exit(pthread_mutex_trylock(&lock->m) == 0 ? 0 : 3);
    long long t1 = unit_now_us();
    long took = (long)((t1 - t0) / 1000);
    int st = 0;
    *child_ok = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    pthread_join(t, NULL);
    *after_release = t1 >= h.released_at;
    return took;
}

static void each_lock(const char *name, struct shim_forklock *lock)
{
    int ok = 0, after = 0;
    /* held 150 ms: fork waits for it (the bound is 200 ms) */
    long took = fork_while_held(lock, 150, &ok, &after);
    CHECK(after, "%s: fork took %ld ms: it did not wait for the holder", name, took);
    CHECK(ok, "%s: the child could not take the lock", name);
    CHECK(pthread_mutex_trylock(&lock->m) == 0, "%s: the parent's lock is stuck", name);
    pthread_mutex_unlock(&lock->m);
    CHECK(!lock->taken, "%s: still marked taken", name);
    /* held 1.5 s: fork goes on after the bound */
    took = fork_while_held(lock, 1500, &ok, &after);
    CHECK(took >= 150 && took < 1000, "%s: fork took %ld ms with the lock held past the bound",
          name, took);
    CHECK(ok, "%s: the child could not take a lock its parent's thread held", name);
    CHECK(pthread_mutex_trylock(&lock->m) == 0, "%s: the parent's lock is stuck", name);
    pthread_mutex_unlock(&lock->m);
}

static void every_lock(void)
{
    each_lock("role", &shim_role_lock);
    each_lock("controller", &shim_controller_lock);
    each_lock("conn", &shim_conn_lock);
    each_lock("real", &shim_real_lock);
}

/* With no holder, the handlers cost nothing measurable and leave every lock free. */
static void no_holder(void)
{
    long long t0 = unit_now_us();
    pid_t pid = fork();
    if (pid == 0)
        child_exit(pthread_mutex_trylock(&shim_conn_lock.m) == 0 &&
                   pthread_mutex_trylock(&shim_real_lock.m) == 0 ? 0 : 3);
    long took = (long)((unit_now_us() - t0) / 1000);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child");
    CHECK(took < 100, "fork took %ld ms", took);
    CHECK(pthread_mutex_trylock(&shim_role_lock.m) == 0, "role lock free in the parent");
    pthread_mutex_unlock(&shim_role_lock.m);
}

int main(void)
{
    unit_watchdog(60);
    RUN(no_holder);
    RUN(every_lock);
    return unit_finish();
}
