// CordCLI
