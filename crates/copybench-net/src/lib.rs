//! copybench-net: the experiment's topology. Builds two anonymous network namespaces joined by a
//! veth pair through rtnetlink (no `ip` command), and lets threads join either side.
