/* forklock.c: fork handlers over the shim's mutexes (see forklock.h for why). */
#include "forklock.h"
#include <errno.h>
#include <time.h>

static struct shim_forklock *const *all;
static int count;
static long bound_us;

void shim_forklock_register(struct shim_forklock *const *locks, int n, long bound_ms)
{
    all = locks;
    count = n;
    bound_us = bound_ms * 1000;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

void shim_forklock_prepare(void)
{
    int saved = errno;
    for (int i = 0; i < count; i++) {
        long long end = now_us() + bound_us;
        int rc;
        while ((rc = pthread_mutex_trylock(&all[i]->m)) == EBUSY && now_us() < end) {
            struct timespec nap = {0, 200000};
            nanosleep(&nap, NULL);
        }
        all[i]->taken = rc == 0;
    }
    errno = saved;
}

void shim_forklock_parent(void)
{
    for (int i = count - 1; i >= 0; i--)
        if (all[i]->taken) {
            all[i]->taken = 0;
            pthread_mutex_unlock(&all[i]->m);
        }
}

void shim_forklock_child(void)
{
    /* Taken by prepare in this very thread: released, as in the parent.  Still held by a thread
     * that does not exist here (prepare gave up after the bound): a fresh mutex. */
    for (int i = 0; i < count; i++) {
        if (all[i]->taken)
            pthread_mutex_unlock(&all[i]->m);
        else
            pthread_mutex_init(&all[i]->m, NULL);
        all[i]->taken = 0;
    }
}
