#!/bin/sh
echo "building billing"
