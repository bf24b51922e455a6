#!/usr/bin/env python3
"""Deterministic Spring Boot application logs with stack traces, for benchmarks.

  gen-java-log.py -n 200000 -o app.log        # 200,000 records (~2.3 physical lines each)

Each record is one header line in Spring Boot's default layout
(`2026-11-27 10:00:00.123  INFO 4242 --- [nio-8080-exec-1] c.e.shop.order.OrderController : ...`);
about 5% of them (ERROR and some WARN) carry a stack trace: the exception line, 8-40 `\tat`
frames, sometimes a `Caused by:` with its own frames and `... N more`. Level mix: ~84% INFO,
~8% WARN, ~5% ERROR, ~3% DEBUG. Only `random.random()` is used, whose sequence is fixed for a
given seed.
"""
import argparse
import random
import sys

LEVELS = [("INFO", 0.84), ("WARN", 0.08), ("ERROR", 0.05), ("DEBUG", 0.03)]
THREADS = ["nio-8080-exec-1", "nio-8080-exec-2", "nio-8080-exec-7", "nio-8080-exec-10",
           "   scheduling-1", "           main", "  task-executor-3", "ForkJoinPool-1-worker-3"]
LOGGERS = ["c.e.shop.order.OrderController", "c.e.shop.order.OrderService",
           "c.e.shop.drive.QuotaJob", "o.s.web.servlet.DispatcherServlet",
           "o.h.engine.jdbc.spi.SqlExceptionHelper", "c.zaxxer.hikari.pool.HikariPool",
           "c.e.shop.mail.SmtpSender", "o.a.c.c.C.[Tomcat].[localhost].[/]"]
MESSAGES = ["order {n} created for customer {m}", "GET /api/v1/orders/{n} took {m} ms",
            "cache miss for key user:{n}", "sync of drive {n} finished in {m} ms",
            "mail {n} queued for delivery to {m} recipients", "session {n} expired",
            "retrying request {n} (attempt {m})", "Completed initialization in {m} ms"]
EXCEPTIONS = ["java.io.IOException", "java.lang.IllegalStateException",
              "java.lang.NullPointerException", "org.springframework.dao.DataAccessResourceFailureException",
              "java.util.concurrent.TimeoutException", "com.example.shop.QuotaExceededException",
              "java.lang.OutOfMemoryError", "javax.net.ssl.SSLHandshakeException"]
CAUSES = ["java.net.SocketTimeoutException", "java.sql.SQLTransientConnectionException",
          "java.io.EOFException"]
FRAMES = ["com.example.shop.order.OrderService.place(OrderService.java:{n})",
          "com.example.shop.drive.QuotaJob.run(QuotaJob.java:{n})",
          "org.springframework.aop.framework.ReflectiveMethodInvocation.proceed(ReflectiveMethodInvocation.java:{n})",
          "org.springframework.transaction.interceptor.TransactionInterceptor.invoke(TransactionInterceptor.java:{n})",
          "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:{n})",
          "jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:{n})",
          "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:{n})",
          "java.base/java.lang.Thread.run(Thread.java:{n})"]


def pick(rng, table):
    r = rng.random()
    for value, weight in table:
        r -= weight
        if r < 0:
            return value
    return table[-1][0]


def one_of(rng, items):
    return items[int(rng.random() * len(items))]


def frames(rng, out, count):
    for _ in range(count):
        out.append("\tat " + one_of(rng, FRAMES).format(n=int(rng.random() * 900) + 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200000, help="records (header lines)")
    ap.add_argument("-o", default="-", help="output file (default stdout)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout if args.o == "-" else open(args.o, "w", newline="\n")
    t = 1795082400.0  # 2026-11-13 10:00:00 UTC
    buf = []
    for i in range(args.n):
        t += rng.random() * 0.05
        s = int(t)
        hh, mm, ss = (s // 3600) % 24, (s // 60) % 60, s % 60
        day = 13 + s // 86400 - 1795082400 // 86400
        level = pick(rng, LEVELS)
        msg = one_of(rng, MESSAGES).format(n=int(rng.random() * 1e6), m=int(rng.random() * 900))
        buf.append(f"2026-11-{day:02d} {hh:02d}:{mm:02d}:{ss:02d}.{int((t % 1) * 1000):03d} "
                   f"{level:>5} 4242 --- [{one_of(rng, THREADS)}] {one_of(rng, LOGGERS):<40} : {msg}")
        if level == "ERROR" or (level == "WARN" and rng.random() < 0.1):
            exc = one_of(rng, EXCEPTIONS)
            buf.append(f"{exc}: {msg}")
            frames(rng, buf, 8 + int(rng.random() * 32))
            if rng.random() < 0.4:
                buf.append(f"Caused by: {one_of(rng, CAUSES)}: connection {i} reset")
                frames(rng, buf, 3 + int(rng.random() * 8))
                buf.append(f"\t... {int(rng.random() * 30) + 5} more")
        if len(buf) >= 10000:
            out.write("\n".join(buf) + "\n")
            buf = []
    if buf:
        out.write("\n".join(buf) + "\n")
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
