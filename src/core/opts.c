/* SPDX-License-Identifier: Apache-2.0 */
#include "core/opts.h"
#include "core/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int opts_parse(const char *s, struct opts *o, const char **bad)
{
    const char *dummy;
    char *p, *w;

    if (!bad)
        bad = &dummy;
    memset(o, 0, sizeof(*o));
    o->buf = strdup(s ? s : "");
    if (!o->buf)
        return -ENOMEM;
    p = w = o->buf;
    while (*p) {
        struct opts_kv *kv;

        if (o->n == OPTS_MAX) {
            *bad = "too many options";
            goto err_2big;
        }
        kv = &o->kv[o->n];
        kv->key = w;
        /* Copy one item, unescaping ",," and stopping at a single ','. */
        while (*p) {
            if (*p == ',') {
                if (p[1] == ',' && kv->value) {
                    *w++ = ',';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (*p == '=' && !kv->value) {
                *w++ = '\0';
                kv->value = w;
                p++;
                continue;
            }
            *w++ = *p++;
        }
        *w++ = '\0';
        if (kv->key[0] == '\0') {
            *bad = "empty option name";
            goto err_inval;
        }
        for (unsigned i = 0; i < o->n; i++)
            if (strcmp(o->kv[i].key, kv->key) == 0) {
                *bad = "option given twice";
                goto err_inval;
            }
        o->n++;
    }
    return 0;

err_2big:
    opts_free(o);
    return -E2BIG;
err_inval:
    opts_free(o);
    return -EINVAL;
}

void opts_free(struct opts *o)
{
    free(o->buf);
    memset(o, 0, sizeof(*o));
}

const char *opts_get(struct opts *o, const char *key)
{
    for (unsigned i = 0; i < o->n; i++)
        if (strcmp(o->kv[i].key, key) == 0) {
            o->kv[i].used = true;
            return o->kv[i].value ? o->kv[i].value : "";
        }
    return NULL;
}

/* The item of @o with @key, or NULL. */
static const struct opts_kv *opts_find(const struct opts *o, const char *key)
{
    for (unsigned i = 0; i < o->n; i++)
        if (!strcmp(o->kv[i].key, key))
            return &o->kv[i];
    return NULL;
}

/* Every item of @a but @skip is in @b with the same value. */
static bool opts_within(const struct opts *a, const struct opts *b, const char *skip)
{
    for (unsigned i = 0; i < a->n; i++) {
        const struct opts_kv *x = &a->kv[i], *y;
        if (skip && !strcmp(x->key, skip))
            continue;
        y = opts_find(b, x->key);
        if (!y || !x->value != !y->value || (x->value && strcmp(x->value, y->value)))
            return false;
    }
    return true;
}

bool opts_equal(const struct opts *a, const struct opts *b, const char *skip)
{
    return opts_within(a, b, skip) && opts_within(b, a, skip);
}

/* Append "key[=value]" to @f, a ',' before it unless @first, the value's
 * ',' doubled. */
static void put_item(FILE *f, const struct opts_kv *kv, bool first)
{
    if (!first)
        fputc(',', f);
    fputs(kv->key, f);
    if (!kv->value)
        return;
    fputc('=', f);
    for (const char *p = kv->value; *p; p++) {
        if (*p == ',')
            fputc(',', f);
        fputc(*p, f);
    }
}

int opts_merge(const struct opts *base, const struct opts *changes, char **out)
{
    unsigned n = base->n, k = 0;
    size_t len = 0;
    FILE *f;

    *out = NULL;
    for (unsigned i = 0; i < changes->n; i++)
        if (!opts_find(base, changes->kv[i].key))
            n++;
    if (n > OPTS_MAX)
        return -E2BIG;
    f = open_memstream(out, &len);
    if (!f)
        return -ENOMEM;
    for (unsigned i = 0; i < base->n; i++) {
        const struct opts_kv *c = opts_find(changes, base->kv[i].key);
        put_item(f, c ? c : &base->kv[i], k++ == 0);
    }
    for (unsigned i = 0; i < changes->n; i++)
        if (!opts_find(base, changes->kv[i].key))
            put_item(f, &changes->kv[i], k++ == 0);
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}

int opts_get_bool(struct opts *o, const char *key, bool *out)
{
    const char *v = opts_get(o, key);

    if (!v) {
        *out = false;
        return 0;
    }
    if (!*v || !strcasecmp(v, "on") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "true") || !strcmp(v, "1"))
        *out = true;
    else if (!strcasecmp(v, "off") || !strcasecmp(v, "no") ||
             !strcasecmp(v, "false") || !strcmp(v, "0"))
        *out = false;
    else
        return -EINVAL;
    return 0;
}

int opts_get_uint(struct opts *o, const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *v = opts_get(o, key);

    return v ? parse_uint(v, min, max, out) : 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long x;
    char *end;

    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    x = strtoull(s, &end, 10);
    if (*end)
        return -EINVAL;
    if (errno == ERANGE || x < min || x > max)
        return -ERANGE;
    *out = x;
    return 0;
}

const char *opts_unused(const struct opts *o)
{
    for (unsigned i = 0; i < o->n; i++)
        if (!o->kv[i].used)
            return o->kv[i].key;
    return NULL;
}

/* The decimal digits that start @s (at least one) in *x, *end after them:
 * the common start of sizes and rates. Returns 0, -EINVAL or -ERANGE. */
static int leading_digits(const char *s, unsigned long long *x, char **end)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    *x = strtoull(s, end, 10);
    return errno == ERANGE ? -ERANGE : 0;
}

int parse_size(const char *s, uint64_t *out)
{
    unsigned long long x;
    unsigned shift = 0;
    char *end;
    int r = leading_digits(s, &x, &end);

    if (r < 0)
        return r;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    case 'P': shift = 50; end++; break;
    case 'B': break;
    default: return -EINVAL;
    }
    if (shift && (*end == 'i' || *end == 'I') && toupper((unsigned char)end[1]) == 'B')
        end += 2;
    else if (toupper((unsigned char)*end) == 'B')
        end++;
    if (*end)
        return -EINVAL;
    if (shift && x > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = (uint64_t)x << shift;
    return 0;
}

int parse_rate(const char *s, uint64_t *out)
{
    static const char units[] = "KMGT";
    unsigned long long x;
    uint64_t mult = 1;
    const char *u;
    char *end;
    int r = leading_digits(s, &x, &end);

    if (r < 0)
        return r;
    if (*end && (u = strchr(units, toupper((unsigned char)*end)))) {
        for (const char *p = units; p <= u; p++)
            mult *= 1000;
        end++;
    }
    if (!strcasecmp(end, "bit"))
        end += 3;
    if (*end)
        return -EINVAL;
    if (x > UINT64_MAX / mult)
        return -ERANGE;
    *out = (uint64_t)x * mult;
    return 0;
}

void format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char units[] = "KMGTP";
    int u = -1;
    uint64_t v = bytes;

    while (v && (v & 1023) == 0 && u < 4) {
        v >>= 10;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%" PRIu64, bytes);
    else
        snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
}
