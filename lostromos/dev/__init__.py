"""The local development cluster: a real etcd and kube-apiserver on loopback,
with the webhook and the controller running beside them as local processes."""
