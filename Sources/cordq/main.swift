import CordCLI

CordQCommand.main()
