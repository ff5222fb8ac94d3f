#!/usr/bin/perl
# Runs Percona Toolkit's own QueryRewriter::fingerprint in-process, so that neither the differential tests
# nor the benchmark pay (or hide) a process start per statement.
#
#   perl pt-fingerprint-harness.pl [--tool pt-query-digest|pt-fingerprint] [--match-embedded-numbers] MODE
#
# Both tools run their `main` only when executed directly, so `require` gives us their packages.
# Input on stdin, binary-safe: for each statement, its length in bytes, "\n", then the bytes.
# MODE fingerprint: writes each fingerprint framed the same way ("!" + message for a statement pt died on).
# MODE bench SECONDS: fingerprints the corpus in a loop for about SECONDS (wall) and prints one JSON line
# with the statement count, the wall seconds and the CPU seconds spent.
use strict;
use warnings;
use Time::HiRes qw(time);

my $tool     = 'pt-query-digest';
my $embedded = 0;
my @rest;
while (@ARGV) {
   my $arg = shift @ARGV;
   if    ( $arg eq '--tool' )                   { $tool = shift @ARGV; }
   elsif ( $arg eq '--match-embedded-numbers' ) { $embedded = 1; }
   else                                         { push @rest, $arg; }
}
my $mode = shift(@rest) || 'fingerprint';
die "unknown tool $tool\n" unless $tool eq 'pt-query-digest' || $tool eq 'pt-fingerprint';

{
   local @ARGV = ();
   require "/usr/bin/$tool";
}

my $qr = QueryRewriter->new(match_embedded_numbers => $embedded);

binmode STDIN;
binmode STDOUT;
$| = 0;

my @queries;
while ( defined( my $len = <STDIN> ) ) {
   chomp $len;
   next if $len eq '';
   my $buf = '';
   my $got = 0;
   while ( $got < $len ) {
      my $n = read( STDIN, $buf, $len - $got, $got );
      die "short read\n" unless $n;
      $got += $n;
   }
   push @queries, $buf;
}

if ( $mode eq 'fingerprint' ) {
   foreach my $q (@queries) {
      my $fp = eval { $qr->fingerprint($q) };
      if ( !defined $fp ) {
         my $err = $@ || 'undef';
         $err =~ s/\n/ /g;
         $fp = "!$err";
      }
      print length($fp), "\n", $fp;
   }
}
elsif ( $mode eq 'bench' ) {
   my $seconds = shift(@rest) || 3;
   # Warm up once, then run whole passes until the time is spent.
   foreach my $q (@queries) { eval { $qr->fingerprint($q) }; }
   # CPU time, not wall time: the machine is shared, and slowq's side is measured the same way.
   my $count = 0;
   my ( $user0, $system0 ) = times;
   my $start = time;
   my $elapsed = 0;
   while ( $elapsed < $seconds ) {
      foreach my $q (@queries) { eval { $qr->fingerprint($q) }; }
      $count += scalar @queries;
      $elapsed = time - $start;
   }
   my ( $user1, $system1 ) = times;
   printf "{\"statements\":%d,\"seconds\":%.6f,\"cpuSeconds\":%.6f}\n", $count, $elapsed,
      ( $user1 - $user0 ) + ( $system1 - $system0 );
}
else {
   die "unknown mode $mode\n";
}
