print("cordq")
