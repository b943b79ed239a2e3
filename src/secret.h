/*
 * secret.h: a password or token kept in a file, re-read when the file
 * changes (new mtime, size or inode: a Kubernetes secret update swaps a
 * symlink, so the inode changes), as jobs treat bearer_token_file.
 *
 * The value is the file's content without trailing newlines, at most
 * PF_SECRET_MAX bytes. Ownership: pf_secret owns its path copy and value.
 */
#ifndef PF_SECRET_H
#define PF_SECRET_H

#include <sys/stat.h>

/* Token and password files are small; more is a mistake. 64 KiB: what
 * jobs accepted before they used this module (JWTs run to a few KiB). */
#define PF_SECRET_MAX 65536

typedef struct pf_secret {
	char *path;     /* NULL: no file; pf_secret_get gives fixed */
	char *fixed;    /* a copy: a reload may free the configuration first */
	char *value;
	struct stat st;
} pf_secret;

/* path or, when NULL, the fixed value (both copied; fixed may be NULL).
 * Returns 0 or -ENOMEM. Reads nothing yet. */
int pf_secret_init(pf_secret *s, const char *path, const char *fixed);

/* The current value (valid until the next call or pf_secret_free), read
 * again when the file changed. Returns 0, or a negative errno when the
 * file cannot be read (*out then keeps the last value read, or NULL). */
int pf_secret_get(pf_secret *s, const char **out);

/* Zeroes and frees the value. */
void pf_secret_free(pf_secret *s);

/* One read of path, no cache (password_file, read at each use): *out is
 * the content without trailing newlines, NUL-terminated, for
 * pf_secret_wipe. Returns 0, or a negative errno (-EFBIG past
 * PF_SECRET_MAX bytes). */
int pf_secret_read(const char *path, char **out);

/* Zeroes and frees a value from pf_secret_read (NULL is fine). */
void pf_secret_wipe(char *v);

#endif
