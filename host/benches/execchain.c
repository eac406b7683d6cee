/* execchain N: exec itself N times, then exit. No libc and no fork, so each step costs
 * the kernel little more than an exec: the watch benchmark uses it to offer the probes
 * more exec events per second than fork+exec of a real program can (x86_64 only). */
#include <sys/syscall.h>

static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

void __attribute__((noreturn, used)) cmain(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    long n = 0;
    if (argc > 1)
        for (char *p = argv[1]; *p >= '0' && *p <= '9'; p++)
            n = n * 10 + (*p - '0');
    if (n > 0) {
        char b[24];
        int i = 23;
        n--;
        b[i] = 0;
        do {
            b[--i] = '0' + n % 10;
            n /= 10;
        } while (n);
        char *av[] = {argv[0], b + i, 0};
        sys3(SYS_execve, (long)"/proc/self/exe", (long)av, (long)envp);
    }
    sys3(SYS_exit, 0, 0, 0);
    for (;;)
        ;
}

__asm__(".global _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call cmain\n");
