/*
 * TCG-lite's linux-user runner, as the command line reaches it: `spry user
 * [-0 ARGV0] PROGRAM [ARGS...]` runs a static x86-64 Linux program under the
 * interpreter with its system calls passed to the host (src/tcg-fallback/user.h).
 */
#ifndef SPRY_TCG_USER_H_PUBLIC
#define SPRY_TCG_USER_H_PUBLIC

/*
 * @argv[0] is PROGRAM; the program sees @argv0 as its argv[0] when not NULL.
 * Returns the program's exit status (or spry's, see exit.h).
 */
int tcg_user_main(int argc, char *const argv[], const char *argv0);

#endif
