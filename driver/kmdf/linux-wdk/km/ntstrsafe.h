/* ntstrsafe.h: nothing of it is used; the WDK header set names it. */
