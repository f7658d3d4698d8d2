package main

// faultScenarios break something other than a process: the database, the
// data, the consumers' pace.
var faultScenarios = []scenario{}
