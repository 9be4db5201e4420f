"""The network lab: the client on a real kernel, in network namespaces the tests build."""
