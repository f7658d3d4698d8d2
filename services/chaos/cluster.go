package main

// clusterScenarios run Intake on a three-node NATS cluster with replicated
// streams and kill nodes under it.
var clusterScenarios = []scenario{}
