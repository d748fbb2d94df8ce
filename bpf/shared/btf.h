/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * btf.h: puts a type into a kernel object's BTF for user space, as bpf2go users do.
 *
 * clang emits BTF only for the types a map, a global or a function refers to; an enum of
 * constants or a struct sent on a ring buffer would be missing. CSW_BTF_TYPE(T, name) declares
 * an unused pointer to T in the section .csw.types, which libbpf skips when it loads the object
 * (no map is created for it), so T is in the BTF that scripts/bpf-gen.js reads to write
 * src/bpf/generated/<object>.ts. Only for BPF objects; user space never includes it.
 */
#ifndef CSW_SHARED_BTF_H
#define CSW_SHARED_BTF_H

#define CSW_BTF_TYPE(T, name) const T *csw_btf_##name __attribute__((unused, section(".csw.types")))

#endif /* CSW_SHARED_BTF_H */
