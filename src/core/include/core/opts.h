/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of QEMU-style option strings ("socket=/run/a.sock,path=/x,readonly")
 * and of sizes ("512M", "20G", "1T", plain bytes). */
#ifndef SLUICE_CORE_OPTS_H
#define SLUICE_CORE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPTS_MAX 32

struct opts_kv {
    char *key;
    char *value;   /* NULL for a bare flag such as "readonly" */
    bool used;
};

struct opts {
    char *buf;     /* owned copy of the input, split in place */
    unsigned n;
    struct opts_kv kv[OPTS_MAX];
};

/* Split @s into key[=value] items separated by ','. A value may contain ','
 * when written twice (",,"), as in QEMU. Returns 0, -EINVAL (empty key,
 * duplicate key), -E2BIG (more than OPTS_MAX items) or -ENOMEM. On error
 * *bad (if non-NULL) points at a static description. */
int opts_parse(const char *s, struct opts *o, const char **bad);
void opts_free(struct opts *o);

/* Look up @key; marks it used. Returns the value, "" for a bare flag, or NULL
 * when absent. */
const char *opts_get(struct opts *o, const char *key);
/* A flag: absent -> false; bare, "on", "yes", "true", "1" -> true; "off",
 * "no", "false", "0" -> false. Returns 0 or -EINVAL. */
int opts_get_bool(struct opts *o, const char *key, bool *out);
/* An unsigned integer in [min, max]. Absent leaves *out unchanged. Returns 0,
 * -EINVAL or -ERANGE. */
int opts_get_uint(struct opts *o, const char *key, uint64_t min, uint64_t max, uint64_t *out);
/* The first key not looked up yet, or NULL: to reject unknown options. */
const char *opts_unused(const struct opts *o);
/* True when @a and @b hold the same key[=value] items in any order (a bare
 * flag equals only a bare flag), leaving out key @skip (NULL: none). */
bool opts_equal(const struct opts *a, const struct opts *b, const char *skip);
/* @base with the items of @changes put in: a key of both keeps its place in
 * @base and takes @changes' value, a key only in @changes is added at the
 * end. *out (malloc'ed) is an option string opts_parse() reads back to those
 * items (a ',' in a value is written ",,"). Returns 0 or -ENOMEM (*out is
 * then NULL), or -E2BIG (more than OPTS_MAX items). */
int opts_merge(const struct opts *base, const struct opts *changes, char **out);

/* Parse an unsigned decimal integer in [min, max]: digits only (no sign,
 * blank, base prefix or suffix). Returns 0, -EINVAL (not a number) or
 * -ERANGE (outside [min, max] or overflow); *out is set only on success.
 * The one integer parser of the tree: options, CLI values, tool arguments. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parse a size: digits with an optional suffix K, M, G, T, P (powers of 1024,
 * optional trailing 'B' or 'iB'), case-insensitive. Returns 0, -EINVAL or
 * -ERANGE (overflow). */
int parse_size(const char *s, uint64_t *out);

/* Parse a bit rate (bits per second), as tc and libvirt write them: digits
 * with an optional suffix K, M, G, T (powers of 1000, as network rates are
 * counted), case-insensitive, optionally followed by "bit" ("100M",
 * "100mbit", "1500000"). Returns 0, -EINVAL or -ERANGE (overflow). */
int parse_rate(const char *s, uint64_t *out);

/* Format @bytes as "20G", "512M", or bytes when not a whole unit. */
void format_size(uint64_t bytes, char *buf, size_t len);

#endif
