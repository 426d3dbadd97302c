/*
 * spry's own messages: one line each on stderr, prefixed "spry: ", kept apart
 * from the guest console on stdout.
 */
#ifndef SPRY_LOG_H
#define SPRY_LOG_H

__attribute__((format(printf, 1, 2))) void spry_err(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void spry_info(const char *fmt, ...);

#endif
